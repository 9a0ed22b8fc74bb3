import Testing
import Spillway
import SpillwayPolicyFile

@Suite("Audit analysis")
struct KeyAuditorTests {
    static let policies = try! PolicyFile.parse(
        """
        defaults:
          maxKeyBytes: 256
          maxValueBytes: 1MiB
          spillAbove: 64KiB
        prefixes:
          "session:": {requireTTL: true, maxTTL: 1h}
          "lock:": {keyOverflow: reject, spillAbove: off}
        """
    ).table

    @Test("violations follow the policy of the key's prefix, and all are counted")
    func violations() {
        var auditor = KeyAuditor(policies: Self.policies)
        let longKey = Array(("cache:" + String(repeating: "k", count: 10_000)).utf8)
        auditor.add(AuditRecord(key: longKey, valueBytes: 10, memoryBytes: 10_100))
        auditor.add(AuditRecord(key: Array("blob:1".utf8), valueBytes: 5 << 20, memoryBytes: (5 << 20) + 80))
        auditor.add(AuditRecord(key: Array("session:a".utf8), valueBytes: 100, memoryBytes: 180, ttl: nil))
        auditor.add(AuditRecord(key: Array("session:b".utf8), valueBytes: 100, memoryBytes: 180, ttl: .seconds(7200)))
        auditor.add(AuditRecord(key: Array("session:c".utf8), valueBytes: 100, memoryBytes: 180, ttl: .seconds(60)))
        auditor.add(AuditRecord(key: Array("plain".utf8), valueBytes: 100, memoryBytes: 150))
        let report = auditor.report(keysInDatabase: 6)

        #expect(report.keysScanned == 6)
        #expect(report.violationCounts == ["keyTooLong": 1, "valueTooLarge": 1, "missingTTL": 1, "ttlTooLong": 1])
        #expect(report.exitCode == 1)
        let kinds = report.violations.map(\.kind)
        #expect(kinds == [.keyTooLong, .valueTooLarge, .missingTTL, .ttlTooLong])
        #expect(report.violations[2].policy == "prefix 'session:'")
        #expect(report.violations[3].detail == "TTL is 2h; maxTTL is 1h")
        #expect(report.violations[1].detail.contains("5.0 MiB"))
        #expect(report.violations[0].key.count < 100, "a violation shows a preview, never the whole key")

        // Hashing the 10 KB key would save all but the hashed form's bytes (at most 256).
        #expect(report.bytesSavedByHashing > longKey.count - 256 && report.bytesSavedByHashing < longKey.count)
        // Spilling the 5 MB value moves it out, minus the pointer.
        #expect(report.bytesSavedBySpilling == (5 << 20) - KeyAuditor.spillPointerBytes)

        #expect(report.topPrefixes.first?.prefix == "blob:")
        let session = report.topPrefixes.first { $0.prefix == "session:" }
        #expect(session?.keys == 3 && session?.bytes == 540 && session?.violations == 2)
        #expect(report.payloadKeys.map(\.keyBytes) == [longKey.count])
        #expect(report.payloadKeys.first?.reason.contains("very long") == true)

        let text = report.text()
        #expect(text.contains("VIOLATIONS: 4 (1 keyTooLong, 1 valueTooLarge, 1 missingTTL, 1 ttlTooLong)"))
        #expect(text.contains("PAYLOAD-LOOKING KEYS: 1"))
    }

    @Test("a clean keyspace exits 0")
    func clean() {
        var auditor = KeyAuditor(policies: Self.policies)
        auditor.add(AuditRecord(key: Array("user:1".utf8), valueBytes: 10, memoryBytes: 60))
        let report = auditor.report()
        #expect(report.violationTotal == 0)
        #expect(report.exitCode == 0)
        #expect(report.text().contains("No key violates its policy."))
    }

    @Test("payload-looking keys: long high-entropy segments, not hex digests or UUIDs")
    func payloadHeuristic() {
        let base64 = "eyJjdXN0b21lciI6ImFjbWUiLCJyYW5nZSI6WzEsMiwzXSwiZmlsdGVyIjp7InN0YXR1cyI6Im9wZW4ifX0="
        #expect(KeyAuditor.payloadReason(Array("report:\(base64)".utf8))?.contains("high entropy") == true)
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        #expect(KeyAuditor.payloadReason(Array("sha:\(hex)".utf8)) == nil)
        #expect(KeyAuditor.payloadReason(Array("user:550e8400-e29b-41d4-a716-446655440000:profile".utf8)) == nil)
        #expect(KeyAuditor.payloadReason(Array(String(repeating: "a", count: 250).utf8))?.contains("very long") == true)
        #expect(abs(KeyAuditor.entropy(Array("abcd".utf8)) - 2.0) < 1e-9)
    }

    @Test("listing is bounded, counting is not")
    func bounded() {
        var auditor = KeyAuditor(policies: Self.policies)
        for i in 0..<(KeyAuditor.maximumListed + 10) {
            auditor.add(AuditRecord(key: Array("session:\(i)".utf8), valueBytes: 1, memoryBytes: 50))
        }
        let report = auditor.report()
        #expect(report.violations.count == KeyAuditor.maximumListed)
        #expect(report.violationCounts["missingTTL"] == KeyAuditor.maximumListed + 10)
    }
}
