/// What a client connection's read side delivers to the proxy: the commands of one read, or the
/// protocol error that ends the connection.
public enum ProxyInbound: Sendable, Hashable {
    /// The complete commands of one read, in order.
    case requests([ProxyRequest])
    /// Bytes that are not RESP (or a request over the limits): answer this error and close.
    case protocolError(String)
}
