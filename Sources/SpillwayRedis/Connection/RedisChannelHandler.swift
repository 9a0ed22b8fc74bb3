import NIOCore
import Spillway

/// What a caller waits on: one reply, or the replies of a batch written in one piece.
enum RedisReplyPromise {
    case one(EventLoopPromise<RESPValue>)
    case many(EventLoopPromise<[RESPValue]>)

    func fail(_ error: any Error) {
        switch self {
        case .one(let p): p.fail(error)
        case .many(let p): p.fail(error)
        }
    }
}

/// Bytes holding `replies` commands, and the promise of their replies.
struct RedisRequest {
    var bytes: ByteBuffer
    var replies: Int
    var promise: RedisReplyPromise
}

/// Marks a command that never reached the wire because its connection was already closed, so it
/// is safe to send again on another connection.
struct RedisRequestNotSent: Error, CustomStringConvertible {
    var reason: CacheError
    var description: String { "not sent: \(reason.message)" }
}

/// The protocol logic of one connection, confined to its channel's event loop.
///
/// Requests are written in order and their promises queued; each decoded reply completes the
/// oldest promise (FIFO), which is how Redis answers a pipeline. Anything that breaks the pairing
/// of replies and commands (a closed channel, bytes that are not RESP, a reply nobody asked for,
/// an overdue reply) fails *every* queued command and closes the channel, so a reply is never
/// given to the wrong command. Out-of-band RESP3 pushes are ignored.
final class RedisChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: RedisReplyPromise
        var remaining: Int
        var collected: [RESPValue]
        var deadline: NIODeadline
    }

    let eventLoop: any EventLoop
    private let decoder: RESPDecoder
    private let commandTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var cumulation: ByteBuffer?
    private var closed: CacheError?
    private var timer: Scheduled<Void>?
    private var flushScheduled = false

    init(eventLoop: any EventLoop, decoder: RESPDecoder, commandTimeout: Duration) {
        self.eventLoop = eventLoop
        self.decoder = decoder
        self.commandTimeout = .nanoseconds(commandTimeout.nanoseconds)
    }

    /// Commands written and not yet answered (event loop only).
    var pendingCount: Int { pending.count }

    // MARK: Writing

    /// Writes a request and queues its promise. Must run on the event loop.
    func enqueue(_ request: RedisRequest) {
        eventLoop.preconditionInEventLoop()
        guard let context, closed == nil else {
            request.promise.fail(RedisRequestNotSent(reason: closed ?? CacheError(.connection, "connection closed")))
            return
        }
        let deadline = NIODeadline.now() + commandTimeout
        pending.append(Pending(promise: request.promise, remaining: request.replies, collected: [], deadline: deadline))
        context.write(wrapOutboundOut(request.bytes), promise: nil)
        // Coalesce the flushes of requests submitted in the same event-loop tick.
        if !flushScheduled {
            flushScheduled = true
            eventLoop.execute { [self] in
                flushScheduled = false
                self.context?.flush()
            }
        }
        if timer == nil { armTimer(at: deadline) }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        if var buffer = cumulation, buffer.readableBytes > 0 {
            cumulation = nil
            var incoming = incoming
            buffer.writeBuffer(&incoming)
            cumulation = buffer
        } else {
            cumulation = incoming
        }
        while closed == nil, cumulation != nil {
            let value: RESPValue?
            do {
                value = try decoder.decode(&cumulation!)
            } catch {
                failAll(error)
                context.close(promise: nil)
                return
            }
            guard let value else { break }
            deliver(value, context: context)
        }
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil }
    }

    private func deliver(_ value: RESPValue, context: ChannelHandlerContext) {
        if case .push = value { return }
        guard !pending.isEmpty else {
            failAll(CacheError(.protocolError, "Redis sent a reply that no command was waiting for"))
            context.close(promise: nil)
            return
        }
        let index = pending.startIndex
        pending[index].remaining -= 1
        switch pending[index].promise {
        case .one(let promise):
            pending.removeFirst()
            promise.succeed(value)
        case .many(let promise):
            pending[index].collected.append(value)
            if pending[index].remaining == 0 {
                let done = pending.removeFirst()
                promise.succeed(done.collected)
            }
        }
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(CacheError(.connection, "connection closed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(CacheError(.connection, "connection closed by the server or the network"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(CacheError(.connection, "connection failed: \(error)", underlying: error))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if pending.isEmpty {
                failAll(CacheError(.connection, "connection closed after being idle"))
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Fails every queued command with `error` and refuses new ones.
    private func failAll(_ error: any Error) {
        let reason = (error as? CacheError) ?? CacheError(.connection, "\(error)", underlying: error)
        if closed == nil { closed = reason }
        timer?.cancel()
        timer = nil
        cumulation = nil
        while let next = pending.popFirst() {
            next.promise.fail(reason)
        }
    }

    // MARK: Timeouts

    private func armTimer(at deadline: NIODeadline) {
        timer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let head = pending.first, closed == nil else { return }
            if head.deadline <= .now() {
                let seconds = Double(commandTimeout.nanoseconds) / 1e9
                failAll(CacheError(.timeout, "Redis did not reply within \(seconds)s; the connection was closed"))
                context?.close(promise: nil)
            } else {
                armTimer(at: head.deadline)
            }
        }
    }
}
