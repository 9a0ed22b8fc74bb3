import NIOCore
import Spillway

/// Reads bytes from one side of a proxied connection, applies that direction's toxics, and
/// writes them to the other side. Both sides share one event loop, so all state here is
/// touched from that loop only.
final class ProxyForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let direction: ProxyDirection
    let shared: ProxyShared
    let connection: ProxyConnection
    let peer: any Channel
    /// When the last scheduled chunk goes out; later chunks never overtake it.
    private var lastDue = NIODeadline.uptimeNanoseconds(0)
    /// Bytes passed on so far in this direction.
    private var passed = 0
    /// Set once the connection was cut on purpose.
    private var cut = false
    /// Scheduled deliveries not yet run; while any are, new ones queue behind them.
    private var pending = 0

    init(direction: ProxyDirection, shared: ProxyShared, connection: ProxyConnection, peer: any Channel) {
        self.direction = direction
        self.shared = shared
        self.connection = connection
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !cut else { return }
        var buffer = unwrapInboundIn(data)
        let (toxics, delay) = shared.toxics(direction)
        if toxics.blackhole {
            shared.countDropped(buffer.readableBytes, direction)
            return
        }
        var resetAfter = false
        if let limit = toxics.resetAfterBytes {
            let allowed = max(0, limit - passed)
            if buffer.readableBytes >= allowed {
                buffer = buffer.getSlice(at: buffer.readerIndex, length: allowed) ?? ByteBuffer()
                resetAfter = true
            }
        }
        passed += buffer.readableBytes
        shared.countBytes(buffer.readableBytes, direction)

        let now = NIODeadline.now()
        var due = max(lastDue, now + TimeAmount(delay))
        let chunk = toxics.sliceSize ?? toxics.bytesPerSecond.map { max(1, $0 / 100) } ?? max(1, buffer.readableBytes)
        var first = true
        while let slice = buffer.readSlice(length: min(max(1, chunk), buffer.readableBytes)), slice.readableBytes > 0 {
            if !first, toxics.sliceSize != nil { due = due + TimeAmount(toxics.sliceDelay) }
            first = false
            if let rate = toxics.bytesPerSecond, rate > 0 {
                due = due + .nanoseconds(Int64(slice.readableBytes) * 1_000_000_000 / Int64(rate))
            }
            deliver(slice, at: due, now: now, loop: context.eventLoop)
            if buffer.readableBytes == 0 { break }
        }
        lastDue = due
        if resetAfter {
            cut = true
            let connection = self.connection
            let shared = self.shared
            run(at: due, now: now, loop: context.eventLoop) {
                shared.countReset()
                connection.reset()
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The other side goes once what is already on its way has been delivered.
        let peer = self.peer
        run(at: lastDue, now: .now(), loop: context.eventLoop) { peer.close(promise: nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func deliver(_ slice: ByteBuffer, at due: NIODeadline, now: NIODeadline, loop: any EventLoop) {
        let peer = self.peer
        run(at: due, now: now, loop: loop) { peer.writeAndFlush(slice, promise: nil) }
    }

    private func run(at due: NIODeadline, now: NIODeadline, loop: any EventLoop, _ body: @escaping () -> Void) {
        if due <= now && pending == 0 {
            body()
        } else {
            // Equal deadlines run in the order scheduled, so nothing overtakes.
            pending += 1
            loop.assumeIsolated().scheduleTask(deadline: due) {
                self.pending -= 1
                body()
            }
        }
    }
}

extension TimeAmount {
    /// A NIO time amount from a `Duration`, in whole nanoseconds.
    init(_ duration: Duration) {
        self = .nanoseconds(duration.nanoseconds)
    }
}
