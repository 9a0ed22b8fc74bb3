/// Which way bytes flow through a ``FaultProxy``.
public enum ProxyDirection: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// From the client (the code under test) to the target (the real server): commands.
    case upstream
    /// From the target back to the client: replies.
    case downstream

    public var description: String { rawValue }
}
