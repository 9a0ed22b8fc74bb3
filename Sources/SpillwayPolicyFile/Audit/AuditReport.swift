/// What an audit of a keyspace found. Encodes to JSON for `spillway audit --json`.
public struct AuditReport: Sendable, Codable, Hashable {
    /// One key that breaks the policy its prefix (or the defaults) gives it.
    public struct Violation: Sendable, Codable, Hashable {
        /// What is wrong.
        public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
            /// The key is longer than `maxKeyBytes`.
            case keyTooLong
            /// The value is larger than `maxValueBytes`.
            case valueTooLarge
            /// `requireTTL` is set and the key has no TTL.
            case missingTTL
            /// The key's TTL is longer than `maxTTL`.
            case ttlTooLong
        }

        /// What is wrong.
        public var kind: Kind
        /// The key's first bytes, escaped (never the whole key).
        public var key: String
        /// The key's length in bytes.
        public var keyBytes: Int
        /// The policy that applies: `defaults` or `prefix 'img:'`.
        public var policy: String
        /// The measured figure and the limit, in words.
        public var detail: String
    }

    /// Keys, bytes and violations under one prefix.
    public struct PrefixTotal: Sendable, Codable, Hashable {
        /// The policy prefix, or the key's first segment (up to and including the first `:`).
        public var prefix: String
        /// Keys seen.
        public var keys: Int
        /// Memory they use (`MEMORY USAGE`, or key plus value bytes where unknown).
        public var bytes: Int
        /// Violations among them.
        public var violations: Int
    }

    /// A key that looks like data rather than a name.
    public struct PayloadKey: Sendable, Codable, Hashable {
        /// The key's first bytes, escaped.
        public var key: String
        /// The key's length in bytes.
        public var keyBytes: Int
        /// Why it looks like a payload.
        public var reason: String
    }

    /// Keys examined.
    public var keysScanned: Int
    /// Keys in the database when the audit started (`DBSIZE`), when known.
    public var keysInDatabase: Int?
    /// Memory of the keys examined.
    public var totalBytes: Int
    /// Violations by kind (every one, even past the listed ones).
    public var violationCounts: [String: Int]
    /// The first violations found (at most ``KeyAuditor/maximumListed``).
    public var violations: [Violation]
    /// Prefixes with the most bytes, largest first.
    public var topPrefixes: [PrefixTotal]
    /// Keys that look like payloads (at most ``KeyAuditor/maximumListed``).
    public var payloadKeys: [PayloadKey]
    /// Payload-looking keys in all.
    public var payloadKeyCount: Int
    /// Bytes that hashing the over-long keys would save.
    public var bytesSavedByHashing: Int
    /// Bytes that spilling the values above `spillAbove` would move out of the cache.
    public var bytesSavedBySpilling: Int

    /// Every violation counted, listed or not.
    public var violationTotal: Int { violationCounts.values.reduce(0, +) }

    /// The exit status `spillway audit` uses: 1 when any key violates its policy.
    public var exitCode: Int32 { violationTotal > 0 ? 1 : 0 }
}
