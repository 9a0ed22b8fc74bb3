import NIOCore

/// Resets a connection as soon as it is active: how ``ProxyAcceptMode/reset`` refuses clients.
final class ResetOnActive: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        ProxyConnection.reset(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
