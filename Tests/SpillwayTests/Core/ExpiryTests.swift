import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("Expiry")
struct ExpiryTests {
    @Test("a zero or negative duration is refused with invalidArgument; positive, none and keep pass")
    func validation() throws {
        for bad: Duration in [.zero, .seconds(-1), .nanoseconds(-1)] {
            let e = #expect(throws: CacheError.self) { try Expiry.after(bad).validate() }
            #expect(e?.code == .invalidArgument)
        }
        try Expiry.after(.nanoseconds(1)).validate()
        try Expiry.none.validate()
        try Expiry.keep.validate()
        #expect(Expiry.after(.seconds(3)).duration == .seconds(3))
        #expect(Expiry.keep.duration == nil)
        #expect(Expiry.none.duration == nil)
    }

    @Test("through the facade: none clears, after sets, keep keeps; an invalid TTL leaves the old value")
    func facade() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(clock: clock)
        let cache = GuardedCache(client: memory) { KeyGuard() }
        #expect(try await cache.set("k", value: ByteBuffer(string: "1"), expiry: .after(.seconds(30))) == .stored)
        #expect(await memory.ttl(of: "k") == .seconds(30))
        clock.advance(by: .seconds(10))
        #expect(try await cache.set("k", value: ByteBuffer(string: "2"), expiry: .keep) == .stored)
        #expect(await memory.ttl(of: "k") == .seconds(20))
        let e = await #expect(throws: CacheError.self) { try await cache.set("k", value: ByteBuffer(string: "3"), expiry: .after(.zero)) }
        #expect(e?.code == .invalidArgument)
        #expect(try await cache.get("k") == ByteBuffer(string: "2"))
        #expect(await memory.ttl(of: "k") == .seconds(20))
        #expect(try await cache.set("k", value: ByteBuffer(string: "4")) == .stored)
        #expect(await memory.ttl(of: "k") == nil)
        // keep on a new key gives it no expiry.
        #expect(try await cache.set("fresh", value: ByteBuffer(string: "x"), expiry: .keep) == .stored)
        #expect(await memory.ttl(of: "fresh") == nil)
    }
}
