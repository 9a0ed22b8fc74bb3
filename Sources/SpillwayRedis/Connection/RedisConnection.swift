public import NIOCore
import NIOPosix
public import NIOSSL
public import Spillway
import Synchronization

/// One connection to Redis: an actor on its channel's event loop. Its channel handler decodes
/// replies with ``RESPDecoder`` and runs the protocol logic (the FIFO of waiting commands,
/// batches, timeouts, closing) as a pure state machine.
///
/// The actor's executor *is* the event loop, so ``send(_:)`` writes to the channel directly, with
/// no hop to another thread; a caller already running on that loop (see
/// ``EventLoopTaskExecutor``) does the whole round trip without leaving its thread.
///
/// Many commands may be in flight at once (pipelining); replies are matched to commands in order.
/// Cancelling a waiting task fails its wait at once but leaves its slot in the queue, so the
/// reply that arrives later is consumed by that slot and the connection stays in step.
public final actor RedisConnection {
    /// The channel's event loop, as this actor's executor.
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    nonisolated let channel: any Channel
    nonisolated let handler: RedisChannelHandler
    private nonisolated let inflightCount = Atomic<Int>(0)
    private nonisolated let negotiated = Atomic<Int>(RedisConfiguration.ProtocolVersion.resp2.rawValue)

    /// When the connection was made (before its handshake).
    nonisolated let openedAt = NIODeadline.now()

    init(channel: any Channel, handler: RedisChannelHandler) {
        self.unownedExecutor = channel.eventLoop.executor.asUnownedSerialExecutor()
        self.eventLoop = channel.eventLoop
        self.channel = channel
        self.handler = handler
    }

    /// The event loop the connection runs on.
    public nonisolated let eventLoop: any EventLoop

    /// The pool's callers using this connection right now (commands in flight through
    /// ``RedisClient``).
    public nonisolated var inflight: Int { inflightCount.load(ordering: .relaxed) }

    /// Counts one more caller (the pool, when it hands the connection out).
    nonisolated func reserve() { inflightCount.add(1, ordering: .relaxed) }

    /// Counts one caller less (the client, when its round trip ends).
    nonisolated func release() { inflightCount.subtract(1, ordering: .relaxed) }

    /// Whether the channel is still open.
    public nonisolated var isActive: Bool { channel.isActive }

    /// The RESP version agreed with the server.
    public nonisolated var protocolVersion: RedisConfiguration.ProtocolVersion {
        RedisConfiguration.ProtocolVersion(rawValue: negotiated.load(ordering: .relaxed)) ?? .resp2
    }

    /// A future that completes when the connection closes.
    public nonisolated var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends one encoded command and waits for its reply. Error replies are returned, not thrown.
    ///
    /// Called from the connection's event loop (a task preferring an ``EventLoopTaskExecutor`` on
    /// it), the command is written at once, with no hop; from anywhere else, the call hops onto
    /// the actor (the loop) first.
    /// - Throws: `.connection` when the connection breaks first, `.timeout` when the reply is
    ///   overdue, `.protocolError` for undecodable bytes, `.cancelled` when the task is cancelled.
    public nonisolated func send(_ command: ByteBuffer) async throws(CacheError) -> RESPValue {
        if eventLoop.inEventLoop {
            return try await Self.exchange(handler, command, replies: 1) { .one($0) }
        }
        return try await isolatedSend(command)
    }

    /// Sends `count` encoded commands written back to back (a pipeline, or `MULTI … EXEC`) and
    /// waits for all their replies, in order. No other caller's command can come between them.
    /// - Throws: as ``send(_:)``.
    public nonisolated func send(_ commands: ByteBuffer, count: Int) async throws(CacheError) -> [RESPValue] {
        precondition(count > 0, "a batch holds at least one command")
        if eventLoop.inEventLoop {
            return try await Self.exchange(handler, commands, replies: count) { .many($0) }
        }
        return try await isolatedSend(commands, count: count)
    }

    private func isolatedSend(_ command: ByteBuffer) async throws(CacheError) -> RESPValue {
        try await Self.exchange(handler, command, replies: 1) { .one($0) }
    }

    private func isolatedSend(_ commands: ByteBuffer, count: Int) async throws(CacheError) -> [RESPValue] {
        try await Self.exchange(handler, commands, replies: count) { .many($0) }
    }

    /// Writes a request and waits for its reply, running in the caller's isolation. Must be called on the event loop (from a task on it, or isolated to this
    /// actor): the request is queued synchronously, before the cancellation handler's hop to the
    /// loop can run, so a cancellation always finds its request.
    private static func exchange<T>(
        _ handler: RedisChannelHandler, _ bytes: ByteBuffer, replies: Int,
        isolation: isolated (any Actor)? = #isolation,
        _ waiter: (UnsafeContinuation<Result<T, CacheError>, Never>) -> RedisReplyWaiter
    ) async throws(CacheError) -> T {
        if Task.isCancelled { throw CacheError(.cancelled, "the task waiting for a Redis reply was cancelled") }
        let id = handler.nextRequestID()
        let result = await withTaskCancellationHandler {
            // Naming `isolation` keeps this closure in the caller's isolation (else it would run
            // on the global executor, off the loop).
            _ = isolation
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<T, CacheError>, Never>) in
                handler.enqueue(bytes, replies: replies, id: id, waiter: waiter(continuation))
            }
        } onCancel: {
            handler.eventLoop.execute { handler.cancel(id: id) }
        }
        return try result.get()
    }

    /// Closes the connection; commands still waiting fail with `.connection`.
    public nonisolated func close() async {
        try? await channel.close()
    }

}

// MARK: - Connecting

/// A handshake refusal (bad credentials, a bad database) that retrying cannot fix.
struct RedisHandshakeRefused: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension RedisConnection {
    /// Opens a connection and runs the handshake: `HELLO 3` (with `AUTH`), falling back to RESP2
    /// and `AUTH` when the server refuses `HELLO 3`; then `SELECT`.
    /// - Parameters:
    ///   - configuration: where and how to connect.
    ///   - sslContext: the TLS context when ``RedisConfiguration/tls`` is set.
    ///   - eventLoop: the loop the connection lives on.
    /// - Throws: `.connection` when the server cannot be reached or refuses the handshake.
    public static func connect(
        configuration: RedisConfiguration,
        sslContext: NIOSSLContext? = nil,
        eventLoop: any EventLoop
    ) async throws(CacheError) -> RedisConnection {
        let handler = RedisChannelHandler(
            eventLoop: eventLoop,
            decoder: RESPDecoder(limits: configuration.decoderLimits),
            commandTimeout: configuration.commandTimeout,
            idleTimeout: configuration.idleTimeout,
            maxQueuedCommands: configuration.maxQueuedCommands
        )
        let serverName = configuration.tlsServerName ?? (Self.isIPAddress(configuration.host) ? nil : configuration.host)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try pipeline.addHandler(handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            channel = try await ConnectAttempt.channel(bootstrap.connect(host: configuration.host, port: configuration.port))
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.connection, "cannot connect to Redis at \(configuration.host):\(configuration.port): \(error)", underlying: error)
        }
        let connection = RedisConnection(channel: channel, handler: handler)
        do {
            try await connection.handshake(configuration)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return connection
    }

    private func handshake(_ configuration: RedisConfiguration) async throws(CacheError) {
        var useRESP2 = configuration.protocolVersion == .resp2
        if !useRESP2 {
            var args: [any RESPArgument] = ["HELLO", "3"]
            if let password = configuration.password {
                args += ["AUTH", configuration.username ?? "default", password]
            }
            let reply = try await send(RedisCommandEncoder.encode(args))
            if let message = reply.errorMessage {
                if message.hasPrefix("NOPROTO") || message.hasPrefix("ERR unknown command") {
                    useRESP2 = true
                } else {
                    throw Self.refused("HELLO", message)
                }
            } else {
                negotiated.store(3, ordering: .relaxed)
            }
        }
        if useRESP2, let password = configuration.password {
            var args: [any RESPArgument] = ["AUTH"]
            if let username = configuration.username { args.append(username) }
            args.append(password)
            let reply = try await send(RedisCommandEncoder.encode(args))
            if let message = reply.errorMessage { throw Self.refused("AUTH", message) }
        }
        if configuration.database != 0 {
            let reply = try await send(RedisCommandEncoder.encode(["SELECT", configuration.database]))
            if let message = reply.errorMessage { throw Self.refused("SELECT", message) }
        }
    }

    private static func refused(_ command: String, _ message: String) -> CacheError {
        CacheError(.connection, "Redis refused \(command): \(message)", underlying: RedisHandshakeRefused(message: message))
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0 == "." || $0.isNumber }
    }
}
