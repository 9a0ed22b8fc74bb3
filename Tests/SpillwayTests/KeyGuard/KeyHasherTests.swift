import Foundation
import NIOCore
import Spillway
import Testing

@Suite("Key hash format (v1, and v2 for too-long tags)")
struct KeyHasherTests {
    let hasher = KeyHasher()

    func hashed(_ s: String, max: Int = 256) -> String {
        hasher.hashed(CacheKey(s), maxKeyBytes: max).string
    }

    @Test("format is <prefix>…#v1:<32 hex>, within maxKeyBytes")
    func format() throws {
        let key = "celery-task-lock:" + String(repeating: "x", count: 10_000) + "-first_task_at"
        let out = hashed(key)
        #expect(out.hasPrefix("celery-task-lock:xxxxxxxxxxxxxxxxxxxxxxx…#v1:"))
        let hex = try #require(out.split(separator: ":").last)
        #expect(hex.count == 32)
        #expect(hex.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(out.utf8.count <= 256)
        #expect(out.utf8.count == 40 + KeyHasher.suffixBytes)
        // The digest is the keyed XXH3-128 of the whole original key.
        let digest = XXH3.hash128(key, secret: XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial))
        #expect(String(hex) == digest.description)
    }

    @Test("deterministic, and distinct keys with a shared prefix stay distinct")
    func deterministic() {
        let base = String(repeating: "p", count: 9000)
        #expect(hashed(base + "-first_task_at") == hashed(base + "-first_task_at"))
        #expect(hashed(base + "-first_task_at") != hashed(base + "-count_tasks"))
        #expect(KeyHasher().hashed(CacheKey(base), maxKeyBytes: 256) == hasher.hashed(CacheKey(base), maxKeyBytes: 256))
    }

    @Test("a different secret gives a different key")
    func secret() {
        let other = KeyHasher(secret: XXH3Secret(keyMaterial: "prod-2026"))
        let key = CacheKey(String(repeating: "k", count: 500))
        #expect(other.hashed(key, maxKeyBytes: 256) != hasher.hashed(key, maxKeyBytes: 256))
    }

    @Test("the readable prefix is cut on a UTF-8 boundary", arguments: [38, 39, 40, 41, 42])
    func utf8Cut(padding: Int) throws {
        // "é" is 2 bytes, "日" is 3, "😀" is 4: put them across the 40-byte cut.
        let key = String(repeating: "a", count: padding - 3) + "é日😀" + String(repeating: "z", count: 400)
        let out = hasher.hashed(CacheKey(key), maxKeyBytes: 256)
        let text = try #require(String(validating: out.bytes.readableBytesView, as: UTF8.self), "output must be valid UTF-8")
        let prefix = try #require(text.components(separatedBy: "…").first)
        #expect(prefix.utf8.count <= 40)
        #expect(key.hasPrefix(prefix))
    }

    @Test("binary keys: prefix stops at the first invalid byte, hash covers everything")
    func binary() {
        var bytes = Array("bin:".utf8)
        bytes += [0xFF, 0xFE, 0x00] + [UInt8](repeating: 7, count: 600)
        let out = hasher.hashed(CacheKey(bytes), maxKeyBytes: 256)
        #expect(out.string.hasPrefix("bin:…#v1:"))
        var changed = bytes
        changed[changed.count - 1] = 8
        #expect(hasher.hashed(CacheKey(changed), maxKeyBytes: 256) != out)
    }

    @Test("a hash tag inside the readable prefix is kept once")
    func tagInPrefix() {
        let out = hashed("{user42}:rate:" + String(repeating: "q", count: 600))
        #expect(out.hasPrefix("{user42}:rate:"))
        #expect(out.components(separatedBy: "{").count == 2)
        #expect(Self.slotTag(out) == "user42")
    }

    @Test("a hash tag beyond the prefix is appended, and the prefix stops before its brace")
    func tagAfterPrefix() {
        let key = "orders:" + String(repeating: "x", count: 100) + "{tenant-7}" + String(repeating: "y", count: 500)
        let out = hashed(key)
        #expect(Self.slotTag(out) == "tenant-7")
        #expect(out.contains("…{tenant-7}#v1:"))
        #expect(out.utf8.count <= 256)
    }

    @Test("a tag cut by the prefix limit is not split")
    func tagStraddlingCut() {
        let key = String(repeating: "a", count: 35) + "{long-tenant-id}" + String(repeating: "b", count: 500)
        let out = hashed(key)
        #expect(Self.slotTag(out) == "long-tenant-id")
        #expect(out.hasPrefix(String(repeating: "a", count: 35) + "…{long-tenant-id}#v1:"))
    }

    @Test("an empty {} is not a tag; the first brace pair decides, as in Redis")
    func redisTagRules() {
        #expect(Self.slotTag("a{}b{c}") == nil)
        #expect(Self.slotTag("a{b}{c}") == "b")
        let out = hashed("{}" + String(repeating: "z", count: 400))
        #expect(Self.slotTag(out) == nil)
    }

    @Test("a tag too long to fit becomes the slot-keeping {#XXXX} (format v2): the original's slot, same for every key with it")
    func hugeTag() throws {
        let tag = "{" + String(repeating: "t", count: 300) + "}"
        let a = hashed("a:" + tag + "1", max: 128)
        let b = hashed("b:" + tag + "2", max: 128)
        #expect(a.utf8.count <= 128 && b.utf8.count <= 128)
        let ta = try #require(Self.slotTag(a))
        #expect(ta == Self.slotTag(b))
        #expect(ta.utf8.count == 5 && ta.hasPrefix("#"))
        #expect(ta.utf8.dropFirst().allSatisfy { (0x40...0x4F).contains($0) })
        #expect(a.contains("…{\(ta)}#v2:") && b.contains("…{\(ta)}#v2:"))
        #expect(HashSlot.slot(hashing: Array(ta.utf8)) == HashSlot.slot(hashing: Array(String(repeating: "t", count: 300).utf8)))
        // The digest still tells the keys apart.
        #expect(a != b)
    }

    @Test("the slot-keeping tag reaches every one of the 16,384 slots, each with its own letters")
    func slotKeepingTagCoversEverySlot() {
        var seen = Set<[UInt8]>()
        var wrong = 0
        for slot in 0..<HashSlot.count {
            let t = HashSlot.slotKeepingTag(slot: slot)
            let bytes = [t.0, t.1, t.2, t.3, t.4]
            if HashSlot.slot(hashing: bytes) != slot { wrong += 1 }
            seen.insert(bytes)
        }
        #expect(wrong == 0)
        #expect(seen.count == HashSlot.count)
    }

    @Test("at the smallest maxKeyBytes a too-long tag still fits and keeps its slot", arguments: [48, 49, 56])
    func hugeTagSmallBudget(max: Int) throws {
        let tagContent = "tenant-" + String(repeating: "9", count: 40)
        let out = hashed("k:{" + tagContent + "}:" + String(repeating: "z", count: 500), max: max)
        #expect(out.utf8.count <= max)
        let tag = try #require(Self.slotTag(out))
        #expect(HashSlot.slot(hashing: Array(tag.utf8)) == HashSlot.slot(hashing: Array(tagContent.utf8)))
    }

    @Test("a key without a too-long tag keeps the version 1 form (#v1:, no slot letters)")
    func versionOneUnchanged() {
        let plain = hashed("celery-task-lock:" + String(repeating: "x", count: 300))
        let tagged = hashed("orders:" + String(repeating: "x", count: 100) + "{tenant-7}" + String(repeating: "y", count: 500))
        #expect(plain.contains("…#v1:") && !plain.contains("{"))
        #expect(tagged.contains("…{tenant-7}#v1:"))
    }

    /// Hashed keys already in caches must keep their names: these are pinned byte for byte. The
    /// digests were computed outside Swift, with libxxhash 0.8.1's `XXH3_generateSecret` (192
    /// bytes from the default key material) and `XXH3_128bits_withSecret`, in canonical order.
    @Test("v1 keys are byte for byte what they were (fixed values, digests computed with libxxhash in C)")
    func versionOnePinned() {
        #expect(
            hashed("celery-task-lock:" + String(repeating: "x", count: 300))
                == "celery-task-lock:" + String(repeating: "x", count: 23) + "…#v1:ea8c064122d41512debe36451a373ddd")
        #expect(
            hashed("orders:" + String(repeating: "x", count: 100) + "{tenant-7}" + String(repeating: "y", count: 500))
                == "orders:" + String(repeating: "x", count: 33) + "…{tenant-7}#v1:9a9dd2792ebee0fcb9c9a0da50683d31")
        #expect(
            hashed("{user42}:rate:" + String(repeating: "q", count: 600))
                == "{user42}:rate:" + String(repeating: "q", count: 26) + "…#v1:8fcd25ecedd8ccaefa7267d9f1af5906")
    }

    @Test("small maxKeyBytes still fits", arguments: [48, 50, 64, 100])
    func smallBudgets(max: Int) {
        let out = hashed(String(repeating: "m", count: 1000), max: max)
        #expect(out.utf8.count <= max)
        #expect(out.contains("#v1:"))
    }

    /// Redis Cluster's rule for the part of a key that is hashed to a slot.
    static func slotTag(_ key: String) -> String? {
        let bytes = Array(key.utf8)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return nil }
        return String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
    }
}
