public import NIOCore
import Spillway
import Logging
public import SpillwayRedis
import Synchronization

/// One client connection and the upstream connection pinned to it: commands are forwarded in
/// order, replies are matched to commands in order (pipelining), push messages pass through.
///
/// Three loops run in one task group: the *request loop* reads the client's commands, asks the
/// ``ProxySession`` and the ``ProxyRules`` what to do with each, and writes each read's commands
/// upstream in one write; the *pump* reads the upstream's replies; the *reply loop* (the calling
/// task) matches replies to commands, applies their plans (resolving pointers, shedding OOM) and
/// writes each batch to the client in one write. Both sources feed one ordered event stream, so
/// a command's place in the reply order is always known before its reply can arrive.
///
/// The connection ends when the client stops sending and every reply it is owed has been written
/// (also after a protocol error, answered last), or when the upstream goes away.
public struct ProxyConnection: Sendable {
    /// The guards.
    public let rules: ProxyRules
    /// The upstream's key specifications, and `COMMAND GETKEYS`.
    public let keys: any ProxyKeySource
    /// Commands the proxy sends first on the upstream connection (`AUTH`, `SELECT`).
    public let handshake: [ProxyRequest]

    /// Creates a connection's logic.
    public init(rules: ProxyRules, keys: any ProxyKeySource, handshake: [ProxyRequest] = []) {
        self.rules = rules
        self.keys = keys
        self.handshake = handshake
    }

    enum Slot: Sendable {
        case upstream(ReplyPlan)
        case local(RESPValue)
    }

    enum Event: Sendable {
        case slot(Slot)
        case replies([RESPValue])
        case requestsEnded
        case upstreamEnded
    }

    final class SharedSession: Sendable {
        let state = Mutex(ProxySession())
    }

    /// Runs the connection until it ends; then calls `close` (which must close both channels).
    public func run(
        clientInbound: NIOAsyncChannelInboundStream<ProxyInbound>,
        clientOutbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        upstreamInbound: NIOAsyncChannelInboundStream<[RESPValue]>,
        upstreamOutbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        close: @escaping @Sendable () -> Void
    ) async {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let session = SharedSession()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await requestLoop(clientInbound, upstreamOutbound, sink, session)
            }
            group.addTask {
                do {
                    for try await replies in upstreamInbound { sink.yield(.replies(replies)) }
                } catch is CancellationError {
                } catch {
                    rules.logger.debug("upstream connection failed", metadata: ["error": "\(error)"])
                }
                sink.yield(.upstreamEnded)
            }
            await replyLoop(events, clientOutbound, session)
            close()
            sink.finish()
            group.cancelAll()
        }
    }

    private func requestLoop(
        _ inbound: NIOAsyncChannelInboundStream<ProxyInbound>, _ upstream: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        _ sink: AsyncStream<Event>.Continuation, _ session: SharedSession
    ) async {
        defer { sink.yield(.requestsEnded) }
        do {
            if !handshake.isEmpty {
                var out = ByteBuffer()
                for command in handshake {
                    sink.yield(.slot(.upstream(.handshake(command.name))))
                    command.write(into: &out)
                }
                try await upstream.write(out)
            }
            for try await inbound in inbound {
                switch inbound {
                case .requests(let batch):
                    var out = ByteBuffer()
                    let table = await keys.table()
                    for request in batch {
                        let (admission, route) = session.state.withLock { ($0.admit(request), $0.clientName) }
                        if case .refuse(let message) = admission {
                            sink.yield(.slot(.local(RESPValueWriter.error(message))))
                            continue
                        }
                        let rewrite = await rules.rewrite(request, route: route, table: table) { command throws(CacheError) in
                            try await keys.getKeys(command)
                        }
                        switch rewrite {
                        case .answer(let value):
                            sink.yield(.slot(.local(value)))
                        case .forward(let command, let plan):
                            let slot = session.state.withLock { $0.forwarded(command, plan: plan) }
                            sink.yield(.slot(.upstream(slot)))
                            command.write(into: &out)
                            rules.stats.record(.commands)
                        }
                    }
                    if out.readableBytes > 0 { try await upstream.write(out) }
                case .protocolError(let message):
                    rules.stats.record(.protocolErrors)
                    rules.logger.info("closing a client connection that sent bytes that are not RESP", metadata: ["error": "\(message)"])
                    sink.yield(.slot(.local(RESPValueWriter.error(message))))
                    return
                }
            }
        } catch {
            rules.logger.debug("client connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func replyLoop(_ events: AsyncStream<Event>, _ client: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ session: SharedSession) async {
        var pending: [Slot] = []
        var head = 0
        var requestsEnded = false
        var out = ByteBuffer()
        var resp3 = false

        func writeReady() {
            while head < pending.count {
                switch pending[head] {
                case .local(let value):
                    RESPValueWriter.write(value, resp3: resp3, into: &out)
                case .upstream(.none):
                    break
                case .upstream:
                    return
                }
                head += 1
            }
        }

        for await event in events {
            switch event {
            case .slot(let slot):
                pending.append(slot)
                writeReady()
            case .replies(let replies):
                for reply in replies {
                    if session.state.withLock({ $0.kind(of: reply) }) == .push {
                        RESPValueWriter.write(reply, resp3: resp3, into: &out)
                        continue
                    }
                    writeReady()
                    guard head < pending.count, case .upstream(let plan) = pending[head] else {
                        // A reply nobody asked for: forward it rather than lose it.
                        RESPValueWriter.write(reply, resp3: resp3, into: &out)
                        continue
                    }
                    head += 1
                    switch plan {
                    case .handshake(let command):
                        if let message = reply.errorMessage {
                            rules.stats.record(.upstreamFailures)
                            rules.logger.error("upstream refused the proxy's \(command)", metadata: ["error": "\(message)"])
                            RESPValueWriter.write(RESPValueWriter.error("ERR spillway proxy: upstream refused \(command): \(message)"), resp3: resp3, into: &out)
                            _ = try? await client.write(out)
                            return
                        }
                    case .hello:
                        resp3 = session.state.withLock { state in
                            state.helloAnswered(reply)
                            return state.resp3
                        }
                        RESPValueWriter.write(reply, resp3: resp3, into: &out)
                    default:
                        RESPValueWriter.write(await rules.apply(plan, to: reply), resp3: resp3, into: &out)
                    }
                    writeReady()
                }
            case .requestsEnded:
                requestsEnded = true
            case .upstreamEnded:
                if head < pending.count { rules.stats.record(.upstreamFailures) }
                if out.readableBytes > 0 { _ = try? await client.write(out) }
                return
            }
            if head > 1024 && head * 2 > pending.count {
                pending.removeFirst(head)
                head = 0
            }
            if out.readableBytes > 0 {
                do {
                    try await client.write(out)
                } catch {
                    return
                }
                out = ByteBuffer()
            }
            if requestsEnded && head == pending.count { return }
        }
    }
}
