import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
public import Spillway
import SpillwayRedis
import Synchronization

/// `spillway proxy`: a RESP server that pins each client connection to its own upstream
/// connection and applies the ``ProxyRules`` to the traffic. A `Service`: run it in a
/// `ServiceGroup`; on graceful shutdown (SIGTERM) it stops accepting, stops reading new
/// commands, writes every reply already owed, then closes.
public final class ProxyServer: Service, Sendable {
    /// The configuration.
    public let configuration: ProxyConfiguration
    /// The guards.
    public let rules: ProxyRules
    private let group: any EventLoopGroup
    private let sslContext: NIOSSLContext?
    private let keys: UpstreamKeySource
    private let bound = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, any Error>])>((nil, []))
    private let logger: Logger

    /// Creates a server.
    /// - Throws: `.invalidArgument` when the upstream's TLS settings cannot make a context.
    public init(configuration: ProxyConfiguration, rules: ProxyRules, group: (any EventLoopGroup)? = nil) throws(CacheError) {
        self.configuration = configuration
        self.rules = rules
        self.logger = rules.logger
        let group = group ?? MultiThreadedEventLoopGroup.singleton
        self.group = group
        if let tls = configuration.upstream.effectiveTLS {
            var tls = tls
            if let caFile = configuration.upstream.tlsCAFile { tls.trustRoots = .file(caFile) }
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw CacheError(.invalidArgument, "upstream TLS: \(error)", underlying: error)
            }
        } else {
            sslContext = nil
        }
        keys = UpstreamKeySource(configuration: configuration.upstream, sslContext: sslContext, eventLoop: group.next(), logger: rules.logger)
    }

    /// The port the server listens on, once it does (waits for ``run()`` to bind).
    public var port: Int {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Int? = bound.withLock { state in
                    if let port = state.port { return port }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// How many times the upstream's key specifications were read: once at start, and once
    /// more each time the proxy's own metadata connection had to be reopened.
    public var keySpecificationLoads: Int {
        get async { await keys.loads }
    }

    /// Reads the upstream's key specifications, listens, and serves until graceful shutdown or
    /// cancellation.
    /// - Throws: `.connection` when the upstream cannot be reached at start or the address
    ///   cannot be bound.
    public func run() async throws {
        do {
            try await keys.load()
        } catch {
            failWaiters(error)
            throw error
        }
        let limits = configuration.requestLimits
        let server: NIOAsyncChannel<any Channel, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .bind(host: configuration.listenHost, port: configuration.listenPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Nothing is read until the upstream is connected and the connection
                        // starts (ProxyGlueHandler holds the reads back).
                        try channel.pipeline.syncOperations.addHandlers(ProxyRequestHandler(limits: limits), ProxyGlueHandler())
                        return channel
                    }
                }
        } catch {
            let failure = CacheError(.connection, "cannot listen on \(configuration.listenHost):\(configuration.listenPort): \(error)", underlying: error)
            failWaiters(failure)
            throw failure
        }
        let port = server.channel.localAddress?.port ?? configuration.listenPort
        let waiters = bound.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
        logger.info(
            "spillway proxy listening",
            metadata: ["listen": "\(configuration.listenHost):\(port)", "upstream": "\(configuration.upstream.host):\(configuration.upstream.port)"]
        )
        let serverChannel = server.channel
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                if let statusPort = configuration.statusPort {
                    tasks.addTask { try await StatusServer(stats: self.rules.stats, group: self.group, logger: self.logger).run(port: statusPort) }
                }
                try await server.executeThenClose { clients in
                    for try await client in clients {
                        tasks.addTask { await self.serve(client) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: no new connections; draining the open ones")
            serverChannel.close(promise: nil)
        }
        await keys.close()
        logger.info("spillway proxy stopped")
    }

    private func failWaiters(_ error: any Error) {
        let waiters = bound.withLock { state in
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Serves one client: connects its upstream, then runs the connection on their event loop
    /// until it ends.
    private func serve(_ client: any Channel) async {
        rules.stats.connectionOpened()
        defer { rules.stats.connectionClosed() }
        let loop = client.eventLoop
        let upstream: any Channel
        let table = await keys.table()
        do {
            upstream = try await connectUpstream(on: loop)
        } catch {
            rules.stats.record(.upstreamFailures)
            logger.warning("cannot reach the upstream for a new client", metadata: ["error": "\(error)"])
            var out = ByteBuffer()
            RESPValueWriter.write(RESPValueWriter.error("ERR spillway proxy: upstream unreachable"), resp3: false, into: &out)
            let written = client.eventLoop.makePromise(of: Void.self)
            client.writeAndFlush(out, promise: written)
            try? await written.futureResult.get()
            client.close(promise: nil)
            return
        }
        let rules = self.rules
        let keys = self.keys
        let handshake = configuration.handshake
        let started: EventLoopFuture<NIOLoopBound<ProxyConnection>> = loop.submit {
            let connection = ProxyConnection(
                rules: rules, keys: keys, table: table, eventLoop: loop,
                client: try client.pipeline.syncOperations.handler(type: ProxyGlueHandler.self),
                upstream: try upstream.pipeline.syncOperations.handler(type: ProxyGlueHandler.self)
            )
            connection.start(handshake: handshake)
            // A side that closed before the start has no close left to report.
            if !client.isActive || !upstream.isActive { connection.close() }
            return NIOLoopBound(connection, eventLoop: loop)
        }
        let connection: NIOLoopBound<ProxyConnection>
        do {
            connection = try await started.get()
        } catch {
            logger.debug("client connection closed before it started", metadata: ["error": "\(error)"])
            client.close(promise: nil)
            upstream.close(promise: nil)
            return
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                let promise = loop.makePromise(of: Void.self)
                loop.execute { connection.value.whenFinished { promise.succeed() } }
                try? await promise.futureResult.get()
                try? await client.closeFuture.get()
                try? await upstream.closeFuture.get()
            } onCancel: {
                // The drain took longer than allowed: cut the connection.
                loop.execute { connection.value.close() }
            }
        } onGracefulShutdown: {
            // Stop reading commands; the replies already owed are still written.
            loop.execute { connection.value.drain() }
        }
    }

    private func connectUpstream(on eventLoop: any EventLoop) async throws -> any Channel {
        let upstream = configuration.upstream
        let sslContext = self.sslContext
        let limits = upstream.decoderLimits
        let serverName = upstream.tlsServerName ?? (upstream.host.contains(":") || upstream.host.allSatisfy { $0 == "." || $0.isNumber } ? nil : upstream.host)
        return try await ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(upstream.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: upstream.host, port: upstream.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try pipeline.addHandlers(UpstreamReplyHandler(limits: limits), ProxyGlueHandler())
                    return channel
                }
            }
    }
}
