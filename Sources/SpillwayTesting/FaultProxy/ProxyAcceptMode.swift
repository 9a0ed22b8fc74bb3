/// What a ``FaultProxy`` does with new connections.
public enum ProxyAcceptMode: String, Sendable, Hashable, CaseIterable {
    /// Accept them and connect each to the target (the normal mode).
    case forward
    /// Stop accepting: the listening socket is no longer read, so new clients wait in the
    /// kernel's backlog with no answer (a blackhole for connection attempts). Switching back to
    /// ``forward`` serves them.
    case hold
    /// Accept, then reset them at once (RST, `SO_LINGER` 0): the server is "there" but refuses.
    case reset
}
