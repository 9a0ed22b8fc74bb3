public import NIOCore
public import SpillwayRedis

/// The read side of an upstream connection: bytes in, the complete replies of each read out as
/// one batch (each with its bytes, see ``UpstreamReply``). Bytes that are not RESP (or a reply over the limits) are an error: the stream
/// fails and the connection is closed.
public final class UpstreamReplyHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = [UpstreamReply]

    private var reader: RESPReplyReader

    /// Creates a handler with the decoder's limits.
    public init(limits: RESPDecoder.Limits = RESPDecoder.Limits()) {
        self.reader = RESPReplyReader(decoder: RESPDecoder(limits: limits))
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.append(unwrapInboundIn(data))
        var replies: [UpstreamReply] = []
        do {
            while let (value, wire) = try reader.nextWithWire() { replies.append(UpstreamReply(value, wire: wire)) }
            if !replies.isEmpty { context.fireChannelRead(wrapInboundOut(replies)) }
        } catch {
            reader.reset()
            if !replies.isEmpty { context.fireChannelRead(wrapInboundOut(replies)) }
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension UpstreamReplyHandler: Sendable {}
