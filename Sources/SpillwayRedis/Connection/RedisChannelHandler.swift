import NIOCore
import Spillway

/// What a caller waits on: one reply, the replies of a batch written in one piece, or nothing
/// any more (its task was cancelled; the replies are still read, then dropped).
enum RedisReplyWaiter {
    case one(UnsafeContinuation<Result<RESPValue, CacheError>, Never>)
    case many(UnsafeContinuation<Result<[RESPValue], CacheError>, Never>)
    case abandoned

    func fail(_ error: CacheError) {
        switch self {
        case .one(let c): c.resume(returning: .failure(error))
        case .many(let c): c.resume(returning: .failure(error))
        case .abandoned: break
        }
    }
}

/// Marks a command that never reached the wire because its connection was already closed, so it
/// is safe to send again on another connection.
struct RedisRequestNotSent: Error, CustomStringConvertible {
    var reason: CacheError
    var description: String { "not sent: \(reason.message)" }
}

/// The protocol logic of one connection, confined to its channel's event loop.
///
/// Requests are written in order and their waiters queued; each decoded reply completes the
/// oldest waiter (FIFO), which is how Redis answers a pipeline. Anything that breaks the pairing
/// of replies and commands (a closed channel, bytes that are not RESP, a reply nobody asked for,
/// an overdue reply) fails *every* queued command and closes the channel, so a reply is never
/// given to the wrong command. A cancelled waiter keeps its slot (marked abandoned) so that its
/// reply is consumed there. Out-of-band RESP3 pushes are ignored.
final class RedisChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var id: UInt64
        var waiter: RedisReplyWaiter
        var replies: Int
        var deadline: NIODeadline
    }

    let eventLoop: any EventLoop
    private var reader: RESPReplyReader
    private let commandTimeout: TimeAmount
    private let idleTimeout: TimeAmount?
    private var idleTimer: Scheduled<Void>?
    /// When the last request was written or the last bytes were read.
    private var lastActivity = NIODeadline.now()
    private var context: ChannelHandlerContext?
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var closed: CacheError?
    private var timer: Scheduled<Void>?
    private var lastID: UInt64 = 0
    /// The replies received so far for the oldest pending request (only it can be collecting).
    private var headReceived = 0
    /// Those replies, when the oldest request is a batch that still waits for them.
    private var headBatch: [RESPValue] = []

    init(eventLoop: any EventLoop, decoder: RESPDecoder, commandTimeout: Duration, idleTimeout: Duration? = nil) {
        self.eventLoop = eventLoop
        self.reader = RESPReplyReader(decoder: decoder)
        self.commandTimeout = .nanoseconds(commandTimeout.nanoseconds)
        self.idleTimeout = idleTimeout.map { .nanoseconds(max(1, $0.nanoseconds)) }
    }

    /// Commands written and not yet answered (event loop only).
    var pendingCount: Int { pending.count }

    /// A fresh request identifier, used to find a request again when its task is cancelled
    /// (event loop only).
    func nextRequestID() -> UInt64 {
        lastID &+= 1
        return lastID
    }

    // MARK: Writing

    /// Writes `bytes`, holding `replies` commands, and queues `waiter`. Must run on the event loop.
    func enqueue(_ bytes: ByteBuffer, replies: Int, id: UInt64, waiter: RedisReplyWaiter) {
        eventLoop.preconditionInEventLoop()
        guard let context, closed == nil else {
            let reason = closed ?? CacheError(.connection, "connection closed")
            waiter.fail(CacheError(.connection, reason.message, underlying: RedisRequestNotSent(reason: reason)))
            return
        }
        let now = NIODeadline.now()
        lastActivity = now
        let deadline = now + commandTimeout
        pending.append(Pending(id: id, waiter: waiter, replies: replies, deadline: deadline))
        // Each request is already one piece (a pipeline or transaction is written as one
        // buffer), so flush at once: waiting to coalesce only adds latency per round trip.
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        if timer == nil { armTimer(at: deadline) }
    }

    /// Fails the waiter of request `id` with `.cancelled` at once; its slot stays queued, so the
    /// reply that comes later is read and dropped. Does nothing once the reply has been given.
    /// Must run on the event loop.
    func cancel(id: UInt64) {
        eventLoop.preconditionInEventLoop()
        guard let index = pending.firstIndex(where: { $0.id == id }) else { return }
        let waiter = pending[index].waiter
        pending[index].waiter = .abandoned
        if index == pending.startIndex { headBatch = [] }
        waiter.fail(CacheError(.cancelled, "the task waiting for a Redis reply was cancelled"))
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if idleTimeout != nil { lastActivity = .now() }
        reader.append(unwrapInboundIn(data))
        do {
            try drain()
        } catch {
            failAll(error, head: true)
            context.close(promise: nil)
        }
    }

    /// Hands every complete reply received to its waiter, oldest first; a batch's replies are
    /// decoded in one pass. A reply that has only partly arrived stays in the reader.
    /// - Throws: `.protocolError` for bytes that are not RESP or a reply nobody asked for,
    ///   `.tooLarge` for a reply above ``RESPDecoder/Limits/maxReplyBytes``.
    private func drain() throws(CacheError) {
        while closed == nil, reader.bufferedBytes > 0 {
            guard let head = pending.first, head.replies > 1 else {
                guard let value = try reader.next() else { return }
                if case .push = value { continue }
                guard let head = pending.popFirst() else {
                    throw CacheError(.protocolError, "Redis sent a reply that no command was waiting for")
                }
                switch head.waiter {
                case .one(let continuation): continuation.resume(returning: .success(value))
                case .many(let continuation): continuation.resume(returning: .success([value]))
                case .abandoned: break
                }
                continue
            }
            // A batch: decode as many of its replies as have arrived.
            var batch = headBatch
            headBatch = []
            if batch.isEmpty { batch.reserveCapacity(head.replies) }
            let before = batch.count
            let wanted = head.replies - headReceived
            let decoded = try reader.next(maxCount: wanted, into: &batch)
            if batch[before...].contains(where: { if case .push = $0 { true } else { false } }) {
                // Out-of-band pushes are not replies.
                var kept = Array(batch[..<before])
                kept.append(contentsOf: batch[before...].filter { if case .push = $0 { false } else { true } })
                batch = kept
            }
            let received = headReceived + batch.count - before
            if received < head.replies {
                headReceived = received
                if case .many = head.waiter { headBatch = batch }
                // Stopped for want of bytes, or because pushes took some of the count.
                if decoded < wanted { return } else { continue }
            }
            headReceived = 0
            pending.removeFirst()
            if case .many(let continuation) = head.waiter { continuation.resume(returning: .success(batch)) }
        }
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startIdleTimer() }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleTimer()
        context.fireChannelActive()
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
            closeIfIdle()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Fails every queued command with `error` and refuses new ones. With `head`, only the oldest
    /// command (whose reply was being read) gets `error` when it is about that reply (too large);
    /// the others fail with `.connection`, since the connection closes under them.
    private func failAll(_ error: any Error, head: Bool = false) {
        let reason = (error as? CacheError) ?? CacheError(.connection, "\(error)", underlying: error)
        if closed == nil { closed = reason }
        timer?.cancel()
        timer = nil
        idleTimer?.cancel()
        idleTimer = nil
        reader.reset()
        headReceived = 0
        headBatch = []
        if head, reason.code == .tooLarge, let first = pending.popFirst() {
            first.waiter.fail(reason)
            let others = CacheError(.connection, "connection closed: \(reason.message)")
            while let next = pending.popFirst() { next.waiter.fail(others) }
            return
        }
        while let next = pending.popFirst() {
            next.waiter.fail(reason)
        }
    }

    // MARK: Timeouts

    private func startIdleTimer() {
        guard let idleTimeout, idleTimer == nil, closed == nil else { return }
        lastActivity = .now()
        armIdleTimer(at: lastActivity + idleTimeout)
    }

    private func armIdleTimer(at deadline: NIODeadline) {
        idleTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard let idleTimeout, closed == nil else { return }
            let due = lastActivity + idleTimeout
            if pending.isEmpty, due <= .now() {
                closeIfIdle()
            } else {
                // Busy, or active since: look again one idle period after the last activity (or
                // from now, while a command is in flight).
                armIdleTimer(at: pending.isEmpty ? due : .now() + idleTimeout)
            }
        }
    }

    /// Closes the connection when nothing is in flight.
    private func closeIfIdle() {
        guard pending.isEmpty, closed == nil else { return }
        failAll(CacheError(.connection, "connection closed after being idle"))
        context?.close(promise: nil)
    }

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
