import SpillwayRedis
import Testing

/// The key-to-slot function against the values Redis documents (the cluster specification's
/// CRC16 check value, `CLUSTER KEYSLOT` examples) and the hash-tag rules. The same function is
/// cross-checked against a real cluster's `CLUSTER KEYSLOT` in ``RedisClusterClientTests``.
@Suite("Redis Cluster slots")
struct RedisClusterSlotTests {
    @Test("CRC16 of 123456789 is 0x31C3, the specification's check value")
    func crcCheckValue() {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterSlot.crc16([UInt8]()) == 0)
    }

    @Test("documented CLUSTER KEYSLOT values")
    func documentedSlots() {
        #expect(RedisClusterSlot.of("somekey") == 11058)  // CLUSTER KEYSLOT's reference page
        #expect(RedisClusterSlot.of("foo{hash_tag}") == 2515)  // the same page
        #expect(RedisClusterSlot.of("foo") == 12182)  // the cluster tutorial's redirections
        #expect(RedisClusterSlot.of("hello") == 866)
        #expect(RedisClusterSlot.of("123456789") == 0x31C3 & 0x3FFF)
    }

    @Test("hash tags: the first {…} with something inside")
    func hashTags() {
        #expect(RedisClusterSlot.of("{user1000}.following") == RedisClusterSlot.of("user1000"))
        #expect(RedisClusterSlot.of("{user1000}.followers") == RedisClusterSlot.of("{user1000}.following"))
        #expect(RedisClusterSlot.of("foo{}{bar}") == Int(RedisClusterSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF), "an empty first tag: the whole key")
        #expect(RedisClusterSlot.of("foo{{bar}}zap") == RedisClusterSlot.of("{bar"), "the tag ends at the first }")
        #expect(RedisClusterSlot.of("foo{bar}{zap}") == RedisClusterSlot.of("bar"), "only the first tag")
        #expect(RedisClusterSlot.of("foo{bar") == Int(RedisClusterSlot.crc16(Array("foo{bar".utf8)) & 0x3FFF), "no closing brace: the whole key")
        #expect(RedisClusterSlot.of("}{x}") == RedisClusterSlot.of("x"))
        #expect((0..<RedisClusterSlot.count).contains(RedisClusterSlot.of([0xFF, 0x00, 0x7B, 0x7D])))
    }

    @Test("the contiguous path (memchr, no generics) agrees with the generic one on random keys with braces")
    func contiguousAgreesWithGeneric() {
        var rng = SystemRandomNumberGenerator()
        var differing: [[UInt8]] = []
        for n in 0..<2000 {
            var key = (0..<(n % 40)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for brace in [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "{"), UInt8(ascii: "}")] where Bool.random(using: &rng) {
                key.insert(brace, at: Int.random(in: 0...key.count, using: &rng))
            }
            // A lazy view has no contiguous storage: the generic path.
            let generic = RedisClusterSlot.of(key.lazy.map { $0 })
            let contiguous = key.withUnsafeBytes { RedisClusterSlot.of($0) }
            let crcGeneric = RedisClusterSlot.crc16(key.lazy.map { $0 })
            if generic != contiguous || crcGeneric != RedisClusterSlot.crc16(key) || contiguous != RedisClusterSlot.of(key) { differing.append(key) }
        }
        #expect(differing.isEmpty, "\(differing.prefix(3))")
        #expect("somekey".utf8.withContiguousStorageIfAvailable { RedisClusterSlot.of(UnsafeRawBufferPointer($0)) } == 11058)
    }
}
