public import Spillway
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Audits a keyspace against a policy table, one record at a time, in bounded memory.
///
/// Each key gets the policy of its matching prefixes over the defaults (a stored key does
/// not say which route wrote it, so route overrides do not apply). The auditor counts every
/// violation, keeps the first ``maximumListed``, totals bytes per prefix, flags payload-looking
/// keys, and estimates what hashing over-long keys and spilling large values would save.
public struct KeyAuditor: Sendable {
    /// The most violations and payload keys listed in a report (all are counted).
    public static let maximumListed = 1000
    /// A key at least this long looks like a payload, whatever its content.
    public static let veryLongKeyBytes = 200
    /// The bytes a spilled value still uses in the cache: the pointer envelope, approximately.
    public static let spillPointerBytes = 96

    /// The table keys are checked against.
    public let policies: PolicyTable
    private let hasher: KeyHasher

    private var scanned = 0
    private var totalBytes = 0
    private var counts: [AuditReport.Violation.Kind: Int] = [:]
    private var violations: [AuditReport.Violation] = []
    private var prefixes: [String: AuditReport.PrefixTotal] = [:]
    private var payloadKeys: [AuditReport.PayloadKey] = []
    private var payloadKeyCount = 0
    private var savedByHashing = 0
    private var savedBySpilling = 0

    /// Creates an auditor.
    /// - Parameters:
    ///   - policies: the policy table (from the policy file, or the defaults).
    ///   - hasher: the key hasher whose output length the hashing estimate uses.
    public init(policies: PolicyTable, hasher: KeyHasher = KeyHasher()) {
        self.policies = policies
        self.hasher = hasher
    }

    /// Checks one key.
    public mutating func add(_ record: AuditRecord) {
        scanned += 1
        let key = CacheKey(record.key)
        let policy = policies.resolve(route: nil, key: key)
        let matched = policies.prefixes.first { record.key.starts(with: $0.prefix.utf8) }?.prefix
        let policyName = matched.map { "prefix '\(Self.escaped(Array($0.utf8), limit: 40))'" } ?? "defaults"
        let preview = Self.escaped(record.key, limit: 64)
        let bytes = record.memoryBytes ?? (record.key.count + (record.valueBytes ?? 0))
        totalBytes += bytes

        var found = 0
        func violation(_ kind: AuditReport.Violation.Kind, _ detail: String) {
            found += 1
            counts[kind, default: 0] += 1
            if violations.count < Self.maximumListed {
                violations.append(.init(kind: kind, key: preview, keyBytes: record.key.count, policy: policyName, detail: detail))
            }
        }
        if record.key.count > policy.maxKeyBytes {
            violation(.keyTooLong, "key is \(record.key.count) bytes; maxKeyBytes is \(policy.maxKeyBytes)")
            let hashed = hasher.hashed(key, maxKeyBytes: max(policy.maxKeyBytes, CachePolicy.minimumMaxKeyBytes))
            savedByHashing += max(0, record.key.count - hashed.count)
        }
        if let size = record.effectiveValueBytes {
            if size > policy.maxValueBytes {
                violation(.valueTooLarge, "value is \(ByteSize.human(size)) (\(size) bytes); maxValueBytes is \(ByteSize.format(policy.maxValueBytes))")
            }
            if record.type == "string", let spill = policy.spillAbove, size > spill {
                savedBySpilling += max(0, size - Self.spillPointerBytes)
            }
        }
        if let ttl = record.ttl {
            if let maxTTL = policy.maxTTL, ttl > maxTTL {
                violation(.ttlTooLong, "TTL is \(DurationText.format(Self.roundedToSeconds(ttl))); maxTTL is \(DurationText.format(maxTTL))")
            }
        } else if policy.requireTTL {
            violation(.missingTTL, "no TTL; the policy requires one\(policy.maxTTL.map { " (maxTTL \(DurationText.format($0)))" } ?? "")")
        }

        let group = matched ?? Self.firstSegment(record.key)
        var total = prefixes[group] ?? AuditReport.PrefixTotal(prefix: group, keys: 0, bytes: 0, violations: 0)
        total.keys += 1
        total.bytes += bytes
        total.violations += found
        prefixes[group] = total

        if let reason = Self.payloadReason(record.key) {
            payloadKeyCount += 1
            if payloadKeys.count < Self.maximumListed {
                payloadKeys.append(.init(key: preview, keyBytes: record.key.count, reason: reason))
            }
        }
    }

    /// The report so far.
    /// - Parameters:
    ///   - keysInDatabase: the database's key count, when known (`DBSIZE`).
    ///   - topPrefixCount: how many prefixes to list.
    public func report(keysInDatabase: Int? = nil, topPrefixCount: Int = 10) -> AuditReport {
        let top = prefixes.values.sorted { ($0.bytes, $1.prefix) > ($1.bytes, $0.prefix) }.prefix(topPrefixCount)
        return AuditReport(
            keysScanned: scanned,
            keysInDatabase: keysInDatabase,
            totalBytes: totalBytes,
            violationCounts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }),
            violations: violations,
            topPrefixes: Array(top),
            payloadKeys: payloadKeys,
            payloadKeyCount: payloadKeyCount,
            bytesSavedByHashing: savedByHashing,
            bytesSavedBySpilling: savedBySpilling
        )
    }

    // MARK: - Heuristics

    /// Why a key looks like a payload, or `nil`: very long, or a long segment of high-entropy
    /// bytes (base64, JSON, compressed data). Hex digests and UUIDs (at most 4 bits per byte) do
    /// not count.
    public static func payloadReason(_ key: [UInt8]) -> String? {
        if key.count >= veryLongKeyBytes { return "very long (\(key.count) bytes)" }
        var longest: ArraySlice<UInt8> = []
        for segment in key.split(whereSeparator: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "|") }) where segment.count > longest.count {
            longest = segment
        }
        guard longest.count >= 48 else { return nil }
        let bits = entropy(longest)
        guard bits > 4.2 else { return nil }
        return "high entropy (\((bits * 10).rounded() / 10) bits/byte over a \(longest.count)-byte segment)"
    }

    /// Shannon entropy in bits per byte.
    public static func entropy(_ bytes: some Collection<UInt8>) -> Double {
        guard !bytes.isEmpty else { return 0 }
        var histogram = [Int](repeating: 0, count: 256)
        for b in bytes { histogram[Int(b)] += 1 }
        let n = Double(bytes.count)
        var h = 0.0
        for c in histogram where c > 0 {
            let p = Double(c) / n
            h -= p * log2(p)
        }
        return h
    }

    /// A remaining TTL for display: whole seconds from a second up (a live TTL is a few
    /// milliseconds short of what was set).
    static func roundedToSeconds(_ ttl: Duration) -> Duration {
        let ms = DurationText.milliseconds(ttl)
        return ms >= 1000 ? .seconds((ms + 500) / 1000) : ttl
    }

    /// The key's first segment, up to and including the first `:`, for grouping keys that no
    /// policy prefix matches.
    static func firstSegment(_ key: [UInt8]) -> String {
        if let colon = key.prefix(64).firstIndex(of: UInt8(ascii: ":")) {
            return escaped(Array(key[...colon]), limit: 64)
        }
        return key.count <= 16 ? escaped(key, limit: 16) : "(no prefix)"
    }

    /// Printable ASCII as is, other bytes as `\xNN`, at most `limit` bytes, then `…`.
    static func escaped(_ bytes: [UInt8], limit: Int) -> String {
        CacheKey(bytes).preview(limit: limit)
    }
}
