/// One key of a live keyspace, as the audit sees it (from `SCAN`, `TYPE`, `STRLEN`,
/// `MEMORY USAGE` and `PTTL`).
public struct AuditRecord: Sendable, Hashable {
    /// The key's bytes.
    public var key: [UInt8]
    /// The Redis type (`string`, `hash`, …), if known.
    public var type: String?
    /// The value's length in bytes (`STRLEN` for strings), if known.
    public var valueBytes: Int?
    /// What the server says the key and value use in memory (`MEMORY USAGE`), if known.
    public var memoryBytes: Int?
    /// The remaining time to live; `nil` when the key has none (`PTTL` answered -1).
    public var ttl: Duration?

    /// Creates a record.
    public init(key: [UInt8], type: String? = "string", valueBytes: Int? = nil, memoryBytes: Int? = nil, ttl: Duration? = nil) {
        self.key = key
        self.type = type
        self.valueBytes = valueBytes
        self.memoryBytes = memoryBytes
        self.ttl = ttl
    }

    /// The value size the policy's `maxValueBytes` is compared with: the string length, or for
    /// other types the memory the server reports.
    public var effectiveValueBytes: Int? { valueBytes ?? memoryBytes }
}
