import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("FallbackStore: a byte-bounded LRU")
struct FallbackStoreTests {
    @Test("never holds more than its bound, evicting the least recently used")
    func bound() {
        let entry = 1 + 10 + FallbackStore<ManualClock>.entryOverhead  // key "a".."z" (1 byte) + 10-byte value
        let store = FallbackStore(maxBytes: entry * 3, clock: ManualClock())
        let value = ByteBuffer(repeating: 0x41, count: 10)
        #expect(store.put("a", value))
        #expect(store.put("b", value))
        #expect(store.put("c", value))
        #expect(store.get("a") == value)  // "a" is now most recent; "b" is the oldest
        #expect(store.put("d", value))
        #expect(store.bytes <= store.maxBytes)
        #expect(store.count == 3)
        #expect(store.get("b") == nil)
        #expect(store.get("a") == value)
        #expect(store.evictions == 1)
    }

    @Test("an entry larger than the bound is refused and removes an older copy")
    func tooLarge() {
        let store = FallbackStore(maxBytes: 200, clock: ManualClock())
        #expect(store.put("k", ByteBuffer(string: "small")))
        #expect(!store.put("k", ByteBuffer(repeating: 0, count: 500)))
        #expect(store.get("k") == nil, "never serve the stale value after a newer write")
        #expect(store.isEmpty)
    }

    @Test("entries expire on the clock")
    func ttl() {
        let clock = ManualClock()
        let store = FallbackStore(maxBytes: 1024, clock: clock)
        store.put("k", ByteBuffer(string: "v"), expiry: .after(.seconds(10)))
        clock.advance(by: .seconds(9))
        #expect(store.get("k") == ByteBuffer(string: "v"))
        clock.advance(by: .seconds(1))
        #expect(store.get("k") == nil)
        #expect(store.isEmpty)
    }
}
