/// A cluster node's address, as the cluster announces it (`host:port`).
public struct RedisClusterNodeAddress: Sendable, Hashable, CustomStringConvertible, Comparable {
    /// The host name or IP address.
    public var host: String
    /// The TCP port (the TLS port when the cluster uses TLS).
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` for IPv6), as in a `MOVED`/`ASK` redirection.
    /// Returns `nil` when it is not one.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return nil }
        self.init(host: String(host), port: port)
    }

    /// `host:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Orders by host, then port.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.host, lhs.port) < (rhs.host, rhs.port)
    }
}
