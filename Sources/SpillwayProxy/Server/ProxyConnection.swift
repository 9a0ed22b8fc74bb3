public import NIOCore
import Logging
import Spillway
import SpillwayRedis

/// One client connection and the upstream connection pinned to it: commands are forwarded in
/// order, replies are matched to commands in order (pipelining), push messages pass through.
///
/// Both channels live on one event loop, and so does this object: every read is handled
/// synchronously where it arrives. The commands of one client read go upstream in one write;
/// the replies of one upstream read go to the client in one write. A command the guards leave
/// alone, and a reply no plan changes, are forwarded as the bytes that came in. Only work that
/// waits (writing a spilled value to the blob store, asking `COMMAND GETKEYS`, resolving a
/// pointer) leaves the loop, in a task; meanwhile the commands (or replies) behind it wait in
/// order, so the client sees exactly the order it would see without the proxy.
///
/// Backpressure: while one channel cannot take more writes, the other is not read.
///
/// The connection ends when the client stops sending and every reply it is owed has been written
/// (also after a protocol error, answered last), or when either side goes away.
public final class ProxyConnection {
    /// The guards.
    public let rules: ProxyRules
    /// The upstream's key specifications, and `COMMAND GETKEYS`.
    public let keys: any ProxyKeySource
    /// The key specifications in force for this connection.
    let table: CommandKeyTable
    let eventLoop: any EventLoop
    let clientHandler: ProxyGlueHandler
    let upstreamHandler: ProxyGlueHandler

    enum Slot {
        case upstream(ReplyPlan)
        case local(RESPValue)
    }

    private var session = ProxySession()
    /// Commands read and not yet forwarded (behind one whose rewrite is under way).
    private var waiting = CircularBuffer<ProxyRequest>()
    private var rewriting = false
    private var inputEnded = false
    /// A protocol error to answer once the commands before it are answered.
    private var protocolError: String?
    /// What each forwarded or refused command is owed, in order.
    private var slots = CircularBuffer<Slot>()
    /// How many of ``slots`` answer no upstream reply (local answers, and commands whose effects
    /// arrive as push messages): when none, no slot needs looking at before a reply.
    private var slotsWithoutReply = 0
    /// Replies read and not yet answered (behind one whose plan is being applied).
    private var backlog = CircularBuffer<UpstreamReply>()
    private var applying = false
    /// What the steps of the proxy's own transaction answered other than `+QUEUED` (see
    /// ``ProxyRules/unqueued(_:isCommand:kept:)``), until its `EXEC` is answered.
    private var unqueued: RESPValue?
    private var finished = false
    private var onClose: [() -> Void] = []

    /// Creates a connection's logic for a client channel and its upstream channel, on the loop
    /// they share; install ``clientSide`` and ``upstreamSide`` last in their pipelines, then
    /// call ``start(handshake:)``.
    public convenience init(rules: ProxyRules, keys: any ProxyKeySource, table: CommandKeyTable, eventLoop: any EventLoop) {
        self.init(rules: rules, keys: keys, table: table, eventLoop: eventLoop, client: ProxyGlueHandler(), upstream: ProxyGlueHandler())
    }

    /// Creates a connection's logic with glue handlers already in the channels' pipelines
    /// (installed when each channel was set up, so that nothing is read before the start).
    package init(
        rules: ProxyRules, keys: any ProxyKeySource, table: CommandKeyTable, eventLoop: any EventLoop, client: ProxyGlueHandler,
        upstream: ProxyGlueHandler
    ) {
        self.rules = rules
        self.keys = keys
        self.table = table
        self.eventLoop = eventLoop
        self.clientHandler = client
        self.upstreamHandler = upstream
        clientHandler.connection = self
        upstreamHandler.connection = self
        clientHandler.partner = upstreamHandler
        upstreamHandler.partner = clientHandler
    }

    /// The handler to add last to the client channel's pipeline (after ``ProxyRequestHandler``).
    public var clientSide: any ChannelHandler { clientHandler }
    /// The handler to add last to the upstream channel's pipeline (after ``UpstreamReplyHandler``).
    public var upstreamSide: any ChannelHandler { upstreamHandler }

    /// Sends the proxy's own commands (`AUTH`, `SELECT`) first, then lets the client's through.
    public func start(handshake: [ProxyRequest]) {
        eventLoop.preconditionInEventLoop()
        if !handshake.isEmpty {
            var out = ByteBuffer()
            for command in handshake {
                slots.append(.upstream(.handshake(command.name)))
                command.write(into: &out)
            }
            upstreamHandler.write(out)
        }
        clientHandler.open()
        upstreamHandler.open()
    }

    /// Runs `body` when both channels are closed and the connection is over.
    public func whenFinished(_ body: @escaping () -> Void) {
        eventLoop.preconditionInEventLoop()
        if finished { body() } else { onClose.append(body) }
    }

    /// Graceful shutdown: read no more commands; the replies already owed are still written.
    public func drain() {
        eventLoop.preconditionInEventLoop()
        clientHandler.closeInput()
        inputClosed()
    }

    // MARK: - Requests

    func received(_ inbound: ProxyInbound) {
        guard !inputEnded else { return }
        switch inbound {
        case .requests(let batch):
            waiting.append(contentsOf: batch)
        case .protocolError(let message):
            rules.stats.record(.protocolErrors)
            rules.logger.info("closing a client connection that sent bytes that are not RESP", metadata: ["error": "\(message)"])
            protocolError = message
            inputEnded = true
        }
        forwardWaiting()
    }

    func inputClosed() {
        inputEnded = true
        forwardWaiting()
    }

    /// Forwards the waiting commands, in one write, up to the first whose rewrite must wait.
    private func forwardWaiting() {
        var out = upstreamHandler.outputBuffer()
        var forwarded = 0
        while !rewriting, let request = waiting.popFirst() {
            forwarded += forward(request, into: &out)
        }
        Self.send(&out, to: upstreamHandler)
        if forwarded > 0 { rules.stats.record(.commands, count: forwarded) }
        if !rewriting && waiting.isEmpty && inputEnded, let message = protocolError.take() {
            appendSlot(.local(RESPValueWriter.error(message)))
        }
        answerReplies()
    }

    /// Forwards one command (or answers it, or starts its rewrite); returns 1 when it went
    /// upstream.
    private func forward(_ request: ProxyRequest, into out: inout ByteBuffer) -> Int {
        if case .refuse(let message) = session.admit(request) {
            appendSlot(.local(RESPValueWriter.error(message)))
            return 0
        }
        if let rewrite = rules.rewriteNow(request, route: session.clientName, table: table, framing: session.releaseFraming) {
            return apply(rewrite, into: &out)
        }
        // The rewrite waits on the blob store or the upstream: the commands behind it wait too.
        rewriting = true
        Self.send(&out, to: upstreamHandler)
        let (rules, keys, table, route, framing) = (self.rules, self.keys, self.table, session.clientName, session.releaseFraming)
        offLoop {
            await rules.rewrite(request, route: route, table: table, framing: framing) { command throws(CacheError) in
                try await keys.getKeys(command)
            }
        } then: { connection, rewrite in
            var out = ByteBuffer()
            if connection.apply(rewrite, into: &out) > 0 { connection.rules.stats.record(.commands) }
            connection.rewriting = false
            Self.send(&out, to: connection.upstreamHandler)
            connection.forwardWaiting()
        }
        return 0
    }

    /// Runs `work` in a task off the loop, then `then` back on the loop with its result.
    private func offLoop<Result: Sendable>(
        _ work: @escaping @Sendable () async -> Result, then: @escaping @Sendable (ProxyConnection, Result) -> Void
    ) {
        let loop = eventLoop
        let connection = NIOLoopBound(self, eventLoop: eventLoop)
        Task {
            let result = await work()
            loop.execute { then(connection.value, result) }
        }
    }

    /// Writes what `out` holds, if anything, and empties it.
    private static func send(_ out: inout ByteBuffer, to handler: ProxyGlueHandler) {
        guard out.readableBytes > 0 else { return }
        handler.write(out)
        out.clear()
    }

    private func apply(_ rewrite: ProxyRules.Rewrite, into out: inout ByteBuffer) -> Int {
        switch rewrite {
        case .answer(let value):
            appendSlot(.local(value))
            return 0
        case .forward(let command, let plan):
            if case .releasingInTransaction(_, let keys, _) = plan {
                // Framed in a MULTI of the proxy's own (only where the session allows it, so the
                // session has nothing to record): a slot for each reply it gets (see
                // ProxyRules.writeInTransaction).
                for _ in 0...keys.count { slots.append(.upstream(.transactionStep(isCommand: false))) }
                slots.append(.upstream(.transactionStep(isCommand: true)))
                slots.append(.upstream(plan))
                ProxyRules.writeInTransaction(command, keys: keys, into: &out)
                return 1
            }
            appendSlot(.upstream(session.forwarded(command, plan: plan)))
            command.write(into: &out)
            return 1
        }
    }

    private func appendSlot(_ slot: Slot) {
        switch slot {
        case .local, .upstream(.none): slotsWithoutReply += 1
        case .upstream: break
        }
        slots.append(slot)
    }

    // MARK: - Replies

    func received(_ replies: [UpstreamReply]) {
        backlog.append(contentsOf: replies)
        answerReplies()
    }

    /// Answers what can be answered now, in order, in one write to the client.
    private func answerReplies() {
        var out = clientHandler.outputBuffer()
        writeLocals(into: &out)
        while !applying, !finished, let reply = backlog.popFirst() {
            answer(reply, into: &out)
            writeLocals(into: &out)
        }
        Self.send(&out, to: clientHandler)
        finishIfDone()
    }

    /// Writes the local answers at the head of the reply order.
    private func writeLocals(into out: inout ByteBuffer) {
        while !applying, slotsWithoutReply > 0, let first = slots.first {
            switch first {
            case .local(let value):
                RESPValueWriter.write(value, resp3: session.resp3, into: &out)
            case .upstream(.none):
                break
            case .upstream:
                return
            }
            slots.removeFirst()
            slotsWithoutReply -= 1
        }
    }

    private func answer(_ reply: UpstreamReply, into out: inout ByteBuffer) {
        let resp3 = session.resp3
        if session.kind(of: reply.value) == .push {
            reply.write(resp3: resp3, into: &out)
            return
        }
        // Local answers at the head were written before: the head is a reply's slot.
        guard let slot = slots.popFirst() else {
            // A reply nobody asked for: forward it rather than lose it.
            reply.write(resp3: resp3, into: &out)
            return
        }
        guard case .upstream(let plan) = slot else {
            slots.prepend(slot)
            reply.write(resp3: resp3, into: &out)
            return
        }
        switch plan {
        case .handshake(let command):
            if let message = reply.value.errorMessage {
                rules.stats.record(.upstreamFailures)
                rules.logger.error("upstream refused the proxy's \(command)", metadata: ["error": "\(message)"])
                RESPValueWriter.write(
                    RESPValueWriter.error("ERR spillway proxy: upstream refused \(command): \(message)"), resp3: resp3, into: &out
                )
                clientHandler.write(out)
                out.clear()
                close()
            }
        case .hello:
            session.helloAnswered(reply.value)
            reply.write(resp3: session.resp3, into: &out)
        case .pass, .none:
            reply.write(resp3: resp3, into: &out)
        case .transactionStep(let isCommand):
            unqueued = ProxyRules.unqueued(reply.value, isCommand: isCommand, kept: unqueued)
        case .releasingInTransaction(_, let keys, _):
            let value = ProxyRules.execReply(reply.value, unqueued: unqueued.take(), keys: keys.count)
            answer(UpstreamReply(value), plan: plan, into: &out)
        default:
            answer(reply, plan: plan, into: &out)
        }
    }

    /// Answers `reply` under `plan` (neither a push nor a plan of the session's own).
    private func answer(_ reply: UpstreamReply, plan: ReplyPlan, into out: inout ByteBuffer) {
        let resp3 = session.resp3
        guard rules.needsWork(plan, for: reply.value) else {
            if let changed = rules.applyNow(plan, to: reply.value) {
                RESPValueWriter.write(changed, resp3: resp3, into: &out)
            } else {
                reply.write(resp3: resp3, into: &out)
            }
            return
        }
        // A pointer to resolve or a blob to delete: the replies behind it wait.
        applying = true
        Self.send(&out, to: clientHandler)
        let (rules, value) = (self.rules, reply.value)
        offLoop {
            await rules.apply(plan, to: value)
        } then: { connection, answer in
            var out = ByteBuffer()
            RESPValueWriter.write(answer, resp3: connection.session.resp3, into: &out)
            connection.clientHandler.write(out)
            connection.applying = false
            connection.answerReplies()
        }
    }

    // MARK: - Ending

    /// Closes both channels when the client has stopped sending and is owed nothing more.
    private func finishIfDone() {
        guard !finished, inputEnded, !rewriting, waiting.isEmpty, protocolError == nil, !applying, backlog.isEmpty, slots.isEmpty else {
            return
        }
        close()
    }

    func upstreamClosed() {
        guard !finished else { return }
        if !slots.isEmpty { rules.stats.record(.upstreamFailures) }
        close()
    }

    func clientClosed() {
        guard !finished else { return }
        close()
    }

    func close() {
        guard !finished else { return }
        finished = true
        clientHandler.close()
        upstreamHandler.close()
        let bodies = onClose
        onClose = []
        for body in bodies { body() }
    }
}

@available(*, unavailable)
extension ProxyConnection: Sendable {}

/// Ties one side of a ``ProxyConnection`` to its channel: hands reads to the connection, writes
/// what the connection sends, and reads only once the connection started and while the other
/// side can take writes.
package final class ProxyGlueHandler: ChannelDuplexHandler {
    package typealias InboundIn = Any
    package typealias OutboundIn = Any
    package typealias OutboundOut = ByteBuffer

    package init() {}

    var connection: ProxyConnection?
    weak var partner: ProxyGlueHandler?
    private var context: ChannelHandlerContext?
    /// Reads wait until the connection starts, and while the partner cannot take writes.
    private var opened = false
    private var pendingRead = false
    private var closed = false

    var isWritable: Bool { context?.channel.isWritable ?? false }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        connection = nil
    }

    func open() {
        opened = true
        readIfAllowed()
    }

    /// An empty buffer for one write: room for a typical read batch, so a pipeline's commands
    /// or replies are copied in without the buffer growing several times.
    func outputBuffer() -> ByteBuffer {
        (context?.channel.allocator ?? ByteBufferAllocator()).buffer(capacity: 2048)
    }

    func write(_ buffer: ByteBuffer) {
        guard let context, !closed else { return }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func closeInput() {
        context?.close(mode: .input, promise: nil)
    }

    func close() {
        guard !closed else { return }
        closed = true
        context?.close(promise: nil)
        connection = nil
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else { return }
        if self === connection.clientHandler {
            connection.received(unwrapInboundIn(data) as! ProxyInbound)
        } else {
            connection.received(unwrapInboundIn(data) as! [UpstreamReply])
        }
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if let connection, self === connection.clientHandler {
                connection.inputClosed()
            } else {
                connection?.upstreamClosed()
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        if let connection {
            if self === connection.clientHandler { connection.clientClosed() } else { connection.upstreamClosed() }
        }
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection?.rules.logger.debug("proxied connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.readIfAllowed() }
        context.fireChannelWritabilityChanged()
    }

    package func read(context: ChannelHandlerContext) {
        if opened && (partner?.isWritable ?? false) {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func readIfAllowed() {
        guard pendingRead, opened, partner?.isWritable ?? false, let context else { return }
        pendingRead = false
        context.read()
    }
}

@available(*, unavailable)
extension ProxyGlueHandler: Sendable {}
