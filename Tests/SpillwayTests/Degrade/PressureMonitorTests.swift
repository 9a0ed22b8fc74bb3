import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("PressureMonitor: shed low-priority writes before the server refuses")
struct PressureMonitorTests {
    static let table = PolicyTable(
        defaults: CachePolicy(onOOM: .shed),
        prefixes: ["low:": PolicyOverrides(priority: .low), "high:": PolicyOverrides(priority: .high)]
    )

    @Test("low-priority writes are dropped above 90% while MemoryCache has refused nothing")
    func shedsBeforeRefusal() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(maxMemory: 64 * 1024, clock: clock)
        let monitor = PressureMonitor(client: memory, interval: .zero, clock: clock)
        let degrade = Degrade<ManualClock>(pressure: monitor)
        let cache = GuardedCache(client: memory, policies: Self.table) { degrade }
        let value = ByteBuffer(repeating: UInt8(ascii: "v"), count: 300)

        var firstDrop: Int?
        for i in 0..<10_000 {
            let outcome = try await cache.set(CacheKey("low:\(i)"), value: value)
            if outcome != .stored {
                #expect(outcome == .dropped(.outOfMemory))
                firstDrop = i
                break
            }
        }
        let dropAt = try #require(firstDrop)
        #expect(dropAt > 0)
        #expect(await memory.rejectedWrites == 0, "shed before the server refused anything")
        let ratio = try #require(try await memory.memoryStats().fillRatio)
        #expect(ratio >= 0.9 && ratio <= 1.0)
        #expect(degrade.stats.counts.pressureShed == 1)

        // Normal writes still go through until the server itself refuses them.
        #expect(try await cache.set("normal:1", value: value) == .stored)
        #expect(try await cache.set("low:again", value: value) == .dropped(.outOfMemory))
        #expect(await memory.rejectedWrites == 0)
        var refusedAt: Int?
        for j in 0..<1_000 {
            let outcome = try await cache.set(CacheKey("high:\(j)"), value: value)
            if outcome == .dropped(.outOfMemory) {
                refusedAt = j
                break
            }
        }
        #expect(refusedAt != nil)
        #expect(await memory.rejectedWrites == 1)
    }

    @Test("samples at most once per interval on the clock, and only for low-priority writes")
    func samplingInterval() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(maxMemory: 64 * 1024, clock: clock)
        let monitor = PressureMonitor(client: memory, interval: .seconds(1), clock: clock)
        let cache = GuardedCache(client: memory, policies: Self.table) { Degrade<ManualClock>(pressure: monitor) }
        for i in 0..<5 { _ = try await cache.set(CacheKey("normal:\(i)"), value: ByteBuffer(string: "v")) }
        #expect(monitor.samples == 0)
        for i in 0..<5 { _ = try await cache.set(CacheKey("low:\(i)"), value: ByteBuffer(string: "v")) }
        #expect(monitor.samples == 1)
        clock.advance(by: .milliseconds(999))
        _ = try await cache.set("low:x", value: ByteBuffer(string: "v"))
        #expect(monitor.samples == 1)
        clock.advance(by: .milliseconds(1))
        _ = try await cache.set("low:y", value: ByteBuffer(string: "v"))
        #expect(monitor.samples == 2)
        #expect(monitor.isShedding == false)
    }

    @Test("a backend without maxmemory is never under pressure")
    func noLimit() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(clock: clock)
        let monitor = PressureMonitor(client: memory, interval: .zero, clock: clock)
        let cache = GuardedCache(client: memory, policies: Self.table) { Degrade<ManualClock>(pressure: monitor) }
        for i in 0..<100 { #expect(try await cache.set(CacheKey("low:\(i)"), value: ByteBuffer(string: "v")) == .stored) }
        #expect(monitor.lastRatio == nil)
    }
}
