public import NIOCore
public import Spillway

/// Where a connection gets the upstream's key specifications and asks `COMMAND GETKEYS`.
public protocol ProxyKeySource: Sendable {
    /// The current table (read at start, and again after a reconnect).
    func table() async -> CommandKeyTable
    /// The key names the upstream finds in `request` (`COMMAND GETKEYS`).
    /// - Throws: `CacheError` when the upstream cannot answer or finds no keys.
    func getKeys(_ request: ProxyRequest) async throws(CacheError) -> [ByteBuffer]
}

/// A fixed table, with no `COMMAND GETKEYS` (tests, or an upstream that cannot be asked).
public struct StaticKeySource: ProxyKeySource {
    /// The table.
    public let fixed: CommandKeyTable

    /// Creates a source.
    public init(_ table: CommandKeyTable) { self.fixed = table }

    public func table() async -> CommandKeyTable { fixed }

    public func getKeys(_ request: ProxyRequest) async throws(CacheError) -> [ByteBuffer] {
        throw CacheError(.unsupported, "no COMMAND GETKEYS without an upstream")
    }
}
