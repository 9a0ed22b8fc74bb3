public import NIOCore
public import SpillwayRedis
import Spillway

/// The read side of a client connection: bytes in, ``ProxyInbound`` out (the commands of each
/// read as one batch, so a pipeline is forwarded as one write).
///
/// Bytes that are not RESP end the stream with ``ProxyInbound/protocolError(_:)`` and the rest of
/// the connection's input is ignored: the proxy answers the error after the replies already owed,
/// then closes, as Redis does. Nothing a client sends can crash it.
public final class ProxyRequestHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ProxyInbound

    private var parser: ProxyRequestParser
    private var failed = false

    /// Creates a handler with the decoder's limits.
    public init(limits: RESPDecoder.Limits = RESPDecoder.Limits()) {
        self.parser = ProxyRequestParser(limits: limits)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        parser.append(unwrapInboundIn(data))
        var batch: [ProxyRequest] = []
        do {
            while let request = try parser.next() { batch.append(request) }
            if !batch.isEmpty { context.fireChannelRead(wrapInboundOut(.requests(batch))) }
        } catch {
            failed = true
            parser.reset()
            if !batch.isEmpty { context.fireChannelRead(wrapInboundOut(.requests(batch))) }
            context.fireChannelRead(wrapInboundOut(.protocolError("ERR \(error.message)")))
        }
    }
}

@available(*, unavailable)
extension ProxyRequestHandler: Sendable {}
