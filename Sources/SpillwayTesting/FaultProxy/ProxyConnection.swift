import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One proxied connection: the client's channel and the channel to the target, on one event loop.
final class ProxyConnection: Sendable {
    let client: any Channel
    let server: any Channel

    init(client: any Channel, server: any Channel) {
        self.client = client
        self.server = server
    }

    /// Resets both sides: `SO_LINGER` 0, then close, so each peer gets an RST instead of a FIN.
    @discardableResult
    func reset() -> EventLoopFuture<Void> {
        Self.reset(client).and(Self.reset(server)).map { _ in }
    }

    /// Closes both sides normally (FIN).
    func close() {
        client.close(promise: nil)
        server.close(promise: nil)
    }

    /// Resets one channel.
    @discardableResult
    static func reset(_ channel: any Channel) -> EventLoopFuture<Void> {
        let setLinger: EventLoopFuture<Void>
        if let provider = channel as? any SocketOptionProvider {
            setLinger = provider.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        } else {
            setLinger = channel.eventLoop.makeSucceededVoidFuture()
        }
        return setLinger.flatMapError { _ in channel.eventLoop.makeSucceededVoidFuture() }
            .flatMap { channel.close() }
            .flatMapError { _ in channel.eventLoop.makeSucceededVoidFuture() }
    }
}
