import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("WriteBreaker: open, half-open, closed on a manual clock")
struct WriteBreakerTests {
    static let configuration = WriteBreaker<ManualClock>.Configuration(threshold: 3, window: .seconds(10), openDuration: .seconds(5), probes: 1)

    @Test("opens after N OOM replies in the window, holds writes back, probes, then closes")
    func lifecycle() async throws {
        let clock = ManualClock()
        let client = SwitchableOOMClient(MemoryCache(clock: clock), refuseWrites: true)
        let breaker = WriteBreaker(name: "test", configuration: Self.configuration, clock: clock)
        let degrade = Degrade(breaker: breaker)
        let log = LogCapture()
        let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(onOOM: .shed)), logger: log.logger()) { degrade }

        // Closed: the first three writes reach the backend and are refused.
        for i in 0..<3 {
            #expect(breaker.state == .closed)
            #expect(try await cache.set(CacheKey("k\(i)"), value: ByteBuffer(string: "v")) == .dropped(.outOfMemory))
        }
        #expect(client.writesSeen == 3)
        #expect(breaker.state == .open)

        // Open: writes follow onOOM without being sent.
        for i in 0..<10 {
            #expect(try await cache.set(CacheKey("held\(i)"), value: ByteBuffer(string: "v")) == .dropped(.outOfMemory))
        }
        #expect(client.writesSeen == 3, "an open breaker sends nothing")
        #expect(degrade.stats.counts.breakerRejected == 10)

        // Still open just before the period ends.
        clock.advance(by: .seconds(4))
        _ = try await cache.set("early", value: ByteBuffer(string: "v"))
        #expect(client.writesSeen == 3)

        // Half-open: one probe is sent; it is refused, so the breaker opens again.
        clock.advance(by: .seconds(1))
        #expect(try await cache.set("probe1", value: ByteBuffer(string: "v")) == .dropped(.outOfMemory))
        #expect(client.writesSeen == 4)
        #expect(breaker.state == .open)
        _ = try await cache.set("held-again", value: ByteBuffer(string: "v"))
        #expect(client.writesSeen == 4)

        // The backend recovers; after the period, the probe succeeds and the breaker closes.
        client.refuseWrites = false
        clock.advance(by: .seconds(5))
        #expect(try await cache.set("probe2", value: ByteBuffer(string: "v")) == .stored)
        #expect(breaker.state == .closed)
        #expect(try await cache.set("after", value: ByteBuffer(string: "v")) == .stored)
        #expect(client.writesSeen == 6)
        // closed → open → half-open → open → half-open → closed
        #expect(breaker.transitions == 5)
        // Each change is logged exactly once, in order.
        #expect(
            log.messages.filter { $0.contains("write breaker") } == [
                "spillway write breaker closed -> open", "spillway write breaker open -> half-open",
                "spillway write breaker half-open -> open", "spillway write breaker open -> half-open",
                "spillway write breaker half-open -> closed",
            ])
    }

    @Test("half-open lets only the configured number of probes through at once")
    func halfOpenAdmission() {
        let clock = ManualClock()
        let breaker = WriteBreaker(configuration: Self.configuration, clock: clock)
        let logger = CacheContext.disabledLogger
        for _ in 0..<3 { breaker.recordOutOfMemory(probe: false, logger: logger) }
        #expect(breaker.state == .open)
        #expect(breaker.admit(logger: logger) == .reject)
        clock.advance(by: .seconds(5))
        #expect(breaker.admit(logger: logger) == .probe)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.admit(logger: logger) == .reject, "one probe at a time")
        breaker.probeAbandoned()
        #expect(breaker.admit(logger: logger) == .probe, "an abandoned probe frees its slot")
        breaker.probeSucceeded(logger: logger)
        #expect(breaker.state == .closed)
        #expect(breaker.admit(logger: logger) == .send)
    }

    @Test("OOM replies spread wider than the window do not open it")
    func window() {
        let clock = ManualClock()
        let breaker = WriteBreaker(configuration: Self.configuration, clock: clock)
        let logger = CacheContext.disabledLogger
        for _ in 0..<10 {
            breaker.recordOutOfMemory(probe: false, logger: logger)
            clock.advance(by: .seconds(6))
        }
        #expect(breaker.state == .closed)
        breaker.recordOutOfMemory(probe: false, logger: logger)
        breaker.recordOutOfMemory(probe: false, logger: logger)
        #expect(breaker.state == .open, "three within the window: the last one at +6 s and two at +6 s")
    }

    @Test("with a real OOM from MemoryCache, the open breaker stops the refused writes", arguments: TestBackend.allCases)
    func realOOM(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 256 * 1024) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let clock = ManualClock()
            let breaker = WriteBreaker(configuration: Self.configuration, clock: clock)
            let cache = GuardedCache(client: SwitchableOOMClient(client), policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
                Degrade(breaker: breaker)
            }
            // Refused writes open it (a real Redis may accept one now and then: count only refusals).
            var attempts = 0
            while breaker.state != .open, attempts < 200 {
                _ = try await cache.set(CacheKey("k\(attempts)"), value: ByteBuffer(string: "v"))
                attempts += 1
            }
            #expect(breaker.state == .open)
            #expect(cache.client.writesRefused == 3)
            let sent = cache.client.writesSeen
            for i in 0..<20 { #expect(try await cache.set(CacheKey("held\(i)"), value: ByteBuffer(string: "v")) == .dropped(.outOfMemory)) }
            #expect(cache.client.writesSeen == sent, "the open breaker sends nothing")
        }
    }
}
