public import NIOCore
public import SpillwayRedis

/// One reply of the upstream: the decoded value, and the bytes it came in when it arrived in
/// one piece, so a reply the proxy leaves alone is forwarded as those bytes.
public struct UpstreamReply: Sendable {
    /// The decoded reply.
    public var value: RESPValue
    /// The reply's bytes as received (`nil` when an aggregate was cut across reads).
    public var wire: ByteBuffer?

    /// Creates a reply.
    public init(_ value: RESPValue, wire: ByteBuffer? = nil) {
        self.value = value
        self.wire = wire
    }

    /// Appends the reply to `buffer` unchanged: its bytes, or the value encoded again.
    func write(resp3: Bool, into buffer: inout ByteBuffer) {
        if let wire {
            buffer.writeImmutableBuffer(wire)
        } else {
            RESPValueWriter.write(value, resp3: resp3, into: &buffer)
        }
    }
}
