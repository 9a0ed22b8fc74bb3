import NIOCore
import Spillway

/// What a caller waits on: one reply, or the replies of a batch written in one piece.
enum RedisReplyWaiter {
    case one(UnsafeContinuation<Result<RESPValue, CacheError>, Never>)
    case many(UnsafeContinuation<Result<[RESPValue], CacheError>, Never>)

    func fail(_ error: CacheError) {
        switch self {
        case .one(let c): c.resume(returning: .failure(error))
        case .many(let c): c.resume(returning: .failure(error))
        }
    }

    func succeed(_ value: RESPValue) {
        switch self {
        case .one(let c): c.resume(returning: .success(value))
        case .many(let c): c.resume(returning: .success([value]))
        }
    }

    func succeed(_ values: [RESPValue]) {
        switch self {
        case .one(let c):
            // A one-reply request is never given a batch; keep the pairing if it were.
            c.resume(returning: values.count == 1 ? .success(values[0]) : .failure(CacheError(.protocolError, "a batch of replies for one command")))
        case .many(let c): c.resume(returning: .success(values))
        }
    }
}

/// The I/O side of one connection, confined to its channel's event loop: it decodes replies
/// with a ``RESPReplyReader``, hands every event to a ``RedisConnectionStateMachine`` and carries
/// out the actions that returns (writes, replies to waiters, timers, closes). The protocol logic
/// (reply queue, batches, timeouts, closing) lives in the state machine, which has its own tests.
final class RedisChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let eventLoop: any EventLoop
    private var machine: RedisConnectionStateMachine<RedisReplyWaiter>
    private var reader: RESPReplyReader
    private var context: ChannelHandlerContext?
    private var commandTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// A reusable buffer for a batch's replies decoded in one pass.
    private var batch: [RESPValue] = []

    init(
        eventLoop: any EventLoop, decoder: RESPDecoder, commandTimeout: Duration, idleTimeout: Duration? = nil,
        maxQueuedCommands: Int = RedisConfiguration.defaultMaxQueuedCommands
    ) {
        self.eventLoop = eventLoop
        self.reader = RESPReplyReader(decoder: decoder)
        self.machine = RedisConnectionStateMachine(
            configuration: .init(
                commandTimeout: .nanoseconds(commandTimeout.nanoseconds),
                idleTimeout: idleTimeout.map { .nanoseconds(max(1, $0.nanoseconds)) },
                maxQueuedRequests: max(1, maxQueuedCommands)
            ),
            now: eventLoop.now
        )
    }

    /// A fresh request identifier, used to find a request again when its task is cancelled
    /// (event loop only).
    func nextRequestID() -> UInt64 {
        machine.nextRequestID()
    }

    // MARK: Writing

    /// Writes `bytes`, holding `replies` commands, and queues `waiter`. Must run on the event loop.
    func enqueue(_ bytes: ByteBuffer, replies: Int, id: UInt64, waiter: RedisReplyWaiter) {
        eventLoop.preconditionInEventLoop()
        switch machine.enqueue(id: id, replies: replies, waiter: waiter, canWrite: context != nil, now: eventLoop.now) {
        case .write(let deadline):
            // Each request is already one piece (a pipeline or transaction is written as one
            // buffer), so flush at once: waiting to coalesce only adds latency per round trip.
            context?.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            if let deadline { armCommandTimer(at: deadline) }
        case .fail(let waiter, let error):
            waiter.fail(error)
        }
    }

    /// Fails the waiter of request `id` with `.cancelled` at once; its slot stays queued, so the
    /// reply that comes later is read and dropped. Does nothing once the reply has been given.
    /// Must run on the event loop.
    func cancel(id: UInt64) {
        eventLoop.preconditionInEventLoop()
        machine.cancel(id: id)?.fail(CacheError(.cancelled, "the task waiting for a Redis reply was cancelled"))
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if machine.configuration.idleTimeout != nil { machine.bytesReceived(now: eventLoop.now) }
        reader.append(unwrapInboundIn(data))
        do {
            try drain()
        } catch {
            reader.reset()
            fail(machine.decodingFailed(error))
            closeChannel()
        }
    }

    /// Hands every complete reply received to the state machine, oldest first; a batch's replies
    /// are decoded in one pass. A reply that has only partly arrived stays in the reader.
    private func drain() throws(CacheError) {
        while !machine.isClosed, reader.bufferedBytes > 0 {
            let wanted = machine.repliesWanted
            if wanted <= 1 {
                guard let value = try reader.next() else { return }
                carryOut(machine.replyReceived(value))
            } else {
                batch.removeAll(keepingCapacity: true)
                let decoded = try reader.next(maxCount: wanted, into: &batch)
                guard decoded > 0 else { return }
                carryOut(machine.batchReceived(batch))
                // Stopped for want of bytes.
                if decoded < wanted { return }
            }
        }
    }

    private func carryOut(_ action: RedisConnectionStateMachine<RedisReplyWaiter>.ReplyAction) {
        switch action {
        case .none: break
        case .succeed(let waiter, let value): waiter.succeed(value)
        case .succeedBatch(let waiter, let values): waiter.succeed(values)
        case .close(let failures):
            reader.reset()
            fail(failures)
            closeChannel()
        }
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { becameActive() }
    }

    func channelActive(context: ChannelHandlerContext) {
        becameActive()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed(CacheError(.connection, "connection closed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed(CacheError(.connection, "connection closed by the server or the network"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closed(CacheError(.connection, "connection failed: \(error)", underlying: error))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            carryOut(machine.idleEvent())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func becameActive() {
        if let deadline = machine.channelActive(now: eventLoop.now) { armIdleTimer(at: deadline) }
    }

    private func closed(_ error: CacheError) {
        reader.reset()
        fail(machine.closed(error))
    }

    private func fail(_ failures: RedisConnectionStateMachine<RedisReplyWaiter>.Failures) {
        if machine.isClosed {
            commandTimer?.cancel()
            commandTimer = nil
            idleTimer?.cancel()
            idleTimer = nil
        }
        for (waiter, error) in failures.waiters { waiter.fail(error) }
    }

    private func closeChannel() {
        context?.close(promise: nil)
    }

    // MARK: Timers

    private func carryOut(_ action: RedisConnectionStateMachine<RedisReplyWaiter>.TimerAction, rearm: (NIODeadline) -> Void = { _ in }) {
        switch action {
        case .none: break
        case .rearm(let deadline): rearm(deadline)
        case .close(let failures):
            reader.reset()
            fail(failures)
            closeChannel()
        }
    }

    private func armCommandTimer(at deadline: NIODeadline) {
        commandTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            commandTimer = nil
            carryOut(machine.commandTimerFired(now: eventLoop.now)) { armCommandTimer(at: $0) }
        }
    }

    private func armIdleTimer(at deadline: NIODeadline) {
        idleTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            carryOut(machine.idleTimerFired(now: eventLoop.now)) { armIdleTimer(at: $0) }
        }
    }
}
