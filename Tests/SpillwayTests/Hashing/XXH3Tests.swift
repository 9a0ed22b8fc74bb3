import Foundation
import NIOCore
import Spillway
import Testing

@Suite("XXH3 over libxxhash")
struct XXH3Tests {
    /// Vectors printed by `xxhsum 0.8.1 -H2` (XXH128) and `-H3` (XXH3-64) for these inputs.
    static let vectors: [(name: String, bytes: [UInt8], h128: String, h64: UInt64)] = [
        ("empty", [], "99aa06d3014798d86001c324468d497f", 0x2d06_8005_38d3_94c2),
        ("a", Array("a".utf8), "a96faf705af16834e6c632b61e964e1f", 0xe6c6_32b6_1e96_4e1f),
        ("hello", Array("Hello, Spillway!".utf8), "cf9e1feeb0d4ea8c5876c6affda3391f", 0x2d1c_9ac9_daa7_edb7),
        ("10KiB", (0..<10240).map { UInt8($0 % 251) }, "4f6375cca7ece1e1bcd63266df6e2244", 0xbcd6_3266_df6e_2244),
    ]

    @Test("one-shot vectors match xxhsum", arguments: 0..<4)
    func vectors(index: Int) {
        let v = Self.vectors[index]
        #expect(XXH3.hash128(v.bytes).description == v.h128)
        #expect(XXH3.hash64(v.bytes) == v.h64)
        #expect(XXH3.hash128(ByteBuffer(bytes: v.bytes)).description == v.h128)
        #expect(XXH3.hash64(ByteBuffer(bytes: v.bytes)) == v.h64)
        #expect(v.bytes.withUnsafeBytes { XXH3.hash128($0) }.description == v.h128)
        if let s = String(validating: v.bytes, as: UTF8.self) {
            #expect(XXH3.hash128(s).description == v.h128)
            #expect(XXH3.hash64(s) == v.h64)
        }
    }

    @Test("streaming equals one-shot, whatever the split")
    func streaming() {
        let bytes = Self.vectors[3].bytes
        for split in [0, 1, 63, 64, 240, 1000, 10239, 10240] {
            var hasher = XXH3StreamingHasher()
            hasher.update(Array(bytes[..<split]))
            hasher.update(ByteBuffer(bytes: bytes[split...]))
            #expect(hasher.digest128().description == Self.vectors[3].h128)
            #expect(hasher.digest64() == Self.vectors[3].h64)
        }
        let secret = XXH3Secret(keyMaterial: "deploy-secret")
        var keyed = XXH3StreamingHasher(secret: secret)
        keyed.update(Array(bytes[..<777]))
        keyed.update(Array(bytes[777...]))
        #expect(keyed.digest128() == XXH3.hash128(bytes, secret: secret))
    }

    @Test("seeds and secrets change the digest deterministically")
    func keyed() throws {
        let input = Array("orders:upload:payload".utf8)
        #expect(XXH3.hash128(input, seed: 1) != XXH3.hash128(input, seed: 0))
        #expect(XXH3.hash128(input, seed: 7) == XXH3.hash128(input, seed: 7))
        let a = XXH3Secret(keyMaterial: "secret-a")
        let b = XXH3Secret(keyMaterial: "secret-b")
        #expect(a.bytes.count == XXH3Secret.derivedSize)
        #expect(XXH3.hash128(input, secret: a) != XXH3.hash128(input, secret: b))
        #expect(XXH3.hash128(input, secret: a) == XXH3.hash128(input, secret: XXH3Secret(keyMaterial: "secret-a")))
        #expect(throws: CacheError.self) { try XXH3Secret(raw: [UInt8](repeating: 1, count: 135)) }
        let raw = try XXH3Secret(raw: [UInt8](repeating: 9, count: 136))
        #expect(raw.bytes.count == 136)
    }

    @Test("agrees with the xxhsum binary on a random file")
    func againstXXHSum() throws {
        let xxhsum = try #require(
            ["/usr/bin/xxhsum", "/usr/local/bin/xxhsum"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "xxhsum is missing: the test command installs the Debian package xxhash"
        )
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4097).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-xxh-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (flag, expected) in [("-H2", XXH3.hash128(bytes).description), ("-H3", String(XXH3.hash64(bytes), radix: 16).leftPad16())] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: xxhsum)
            process.arguments = [flag, path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            process.waitUntilExit()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(out.contains(expected), "xxhsum \(flag) printed \(out)")
        }
    }
}

extension String {
    fileprivate func leftPad16() -> String { String(repeating: "0", count: max(0, 16 - count)) + self }
}
