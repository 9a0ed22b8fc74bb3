import NIOCore
import Spillway
import Testing

@Suite("Spill pointer envelope")
struct SpillPointerTests {
    let pointer = SpillPointer(
        storeName: "file", id: BlobID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210), length: 1_048_576,
        digest: XXH3.hash128([1, 2, 3]), keyDigest: XXH128Digest(high: 0x1111_2222_3333_4444, low: 0x5555_6666_7777_8888),
        expiresAt: BlobTimestamp(millisecondsSince1970: 1_800_000_123_456)
    )

    @Test("a pointer encodes to 76 + n bytes with the documented layout (version 2) and decodes back")
    func roundTrip() throws {
        let encoded = pointer.encoded()
        #expect(encoded.readableBytes == SpillPointer.fixedSize + 4)
        #expect(Array(encoded.readableBytesView.prefix(8)) == [0xFF, 0x53, 0x50, 0x49, 0x4C, 0x4C, 0x57, 0x59])
        #expect(encoded.getInteger(at: 8, as: UInt8.self) == 0x50)
        #expect(encoded.getInteger(at: 9, as: UInt8.self) == 2)
        #expect(encoded.getInteger(at: 10, as: UInt8.self) == 1)
        #expect(encoded.getInteger(at: 11, as: UInt8.self) == 4)
        #expect(encoded.getString(at: 12, length: 4) == "file")
        #expect(encoded.getInteger(at: 16, as: UInt64.self) == pointer.id.high)
        #expect(encoded.getInteger(at: 32, as: UInt64.self) == 1_048_576)
        #expect(encoded.getInteger(at: 40, as: UInt64.self) == pointer.digest.high)
        #expect(encoded.getInteger(at: 56, as: Int64.self) == 1_800_000_123_456)
        #expect(encoded.getInteger(at: 64, as: UInt64.self) == 0x1111_2222_3333_4444)
        #expect(encoded.getInteger(at: 72, as: UInt64.self) == 0x5555_6666_7777_8888)
        #expect(SpillPointer.maxEncodedSize == 76 + 255)
        guard case .pointer(let decoded) = SpillEnvelope.decode(encoded) else {
            Issue.record("pointer did not decode")
            return
        }
        #expect(decoded == pointer)
        var noExpiry = pointer
        noExpiry.expiresAt = nil
        guard case .pointer(let decoded2) = SpillEnvelope.decode(noExpiry.encoded()) else {
            Issue.record("pointer without expiry did not decode")
            return
        }
        #expect(decoded2 == noExpiry)
    }

    @Test("a version-1 pointer (no key digest) is no longer read: it is malformed, never a pointer")
    func versionOneRefused() {
        var v1 = Array(pointer.encoded().readableBytesView.prefix(SpillPointer.fixedSize - 16 + 4))
        v1[9] = 1
        guard case .malformed(let reason) = SpillEnvelope.decode(ByteBuffer(bytes: v1)) else {
            Issue.record("a version-1 pointer decoded")
            return
        }
        #expect(reason == .unknownVersion)
    }

    @Test("a store name that is not valid UTF-8 is malformed, not decoded with replacement characters (fuzz finding)")
    func invalidUTF8StoreName() {
        var bytes = Array(pointer.encoded().readableBytesView)
        bytes[13] = 0xA4  // inside "file"
        guard case .malformed(let reason) = SpillEnvelope.decode(ByteBuffer(bytes: bytes)) else {
            Issue.record("a pointer with a non-UTF-8 store name decoded")
            return
        }
        #expect(reason == .badStoreName)
    }

    @Test("every truncation and every single-byte change of a pointer decodes without trapping, and never to a different pointer")
    func malformedNeverCrashes() {
        let encoded = Array(pointer.encoded().readableBytesView)
        for length in 0..<encoded.count {
            switch SpillEnvelope.decode(ByteBuffer(bytes: encoded.prefix(length))) {
            case .pointer: Issue.record("truncated pointer of \(length) bytes decoded as a pointer")
            case .raw, .malformed: break
            }
        }
        for extra in 1...3 {
            if case .pointer = SpillEnvelope.decode(ByteBuffer(bytes: encoded + Array(repeating: 0, count: extra))) {
                Issue.record("pointer with \(extra) trailing bytes decoded")
            }
        }
        // Damage in the header fields is detected (decoded as malformed or raw); damage in the
        // id, length or digest decodes to a pointer that then fails lookup or verification.
        for index in 8..<12 {
            var bytes = encoded
            bytes[index] ^= 0xFF
            if case .pointer(let p) = SpillEnvelope.decode(ByteBuffer(bytes: bytes)) { #expect(p != pointer) }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0...80, using: &generator)
            var bytes = SpillEnvelope.magic + [0x50]
            bytes += (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = SpillEnvelope.decode(ByteBuffer(bytes: bytes))
        }
    }

    @Test("raw values pass unchanged; magic-prefixed raw values are escaped and unescape byte for byte")
    func escaping() {
        let plain = ByteBuffer(string: "hello")
        #expect(SpillEnvelope.storedForm(ofRaw: plain) == plain)
        let startsWithFF = ByteBuffer(bytes: [0xFF, 0x00, 1, 2, 3, 4, 5, 6, 7])
        #expect(SpillEnvelope.storedForm(ofRaw: startsWithFF) == startsWithFF)
        let cases: [[UInt8]] = [
            SpillEnvelope.magic,
            SpillEnvelope.magic + [0x50],
            SpillEnvelope.magic + [0x45, 1, 2],
            Array(pointer.encoded().readableBytesView),
        ]
        for raw in cases {
            let stored = SpillEnvelope.storedForm(ofRaw: ByteBuffer(bytes: raw))
            #expect(Array(stored.readableBytesView.prefix(9)) == SpillEnvelope.magic + [0x45])
            guard case .raw(let back) = SpillEnvelope.decode(stored) else {
                Issue.record("escaped value did not decode as raw")
                continue
            }
            #expect(Array(back.readableBytesView) == raw)
        }
    }

    @Test("a value from another client that starts with the magic but an unknown kind reads back unchanged")
    func foreignValue() {
        for raw in [SpillEnvelope.magic, SpillEnvelope.magic + [0x00, 9, 9], SpillEnvelope.magic + Array("Zforeign".utf8)] {
            guard case .raw(let back) = SpillEnvelope.decode(ByteBuffer(bytes: raw)) else {
                Issue.record("foreign value not raw")
                continue
            }
            #expect(Array(back.readableBytesView) == raw)
        }
    }

    @Test("blob ids are random, 128-bit, and round-trip through their 32-digit hex form")
    func blobIDs() {
        let ids = (0..<1000).map { _ in BlobID.random() }
        #expect(Set(ids).count == 1000)
        for id in ids.prefix(50) {
            #expect(id.description.count == 32)
            #expect(BlobID(hex: id.description) == id)
        }
        #expect(BlobID(hex: "../../etc/passwd") == nil)
        #expect(BlobID(hex: String(repeating: "G", count: 32)) == nil)
        #expect(BlobID(hex: String(repeating: "a", count: 31)) == nil)
        let sorted = ids.sorted()
        #expect(sorted.map(\.description) == sorted.map(\.description).sorted())
    }
}
