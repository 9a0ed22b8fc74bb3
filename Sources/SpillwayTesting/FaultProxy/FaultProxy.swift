public import NIOCore
import NIOPosix
public import Spillway
import Synchronization

/// A TCP proxy for tests, on 127.0.0.1, that a test puts between a client and a real server to
/// inject network faults: latency and jitter, a bandwidth limit, writes sliced into small
/// chunks, connections reset now or after n bytes, bytes dropped (a blackhole), and new
/// connections held or refused. The faults are Toxiproxy's, in-process and controlled from
/// the test while traffic flows.
///
/// ```swift
/// try await FaultProxy.withProxy(targetPort: server.port) { proxy in
///     let client = try await RedisClient(port: proxy.port)   // talks through the proxy
///     proxy.update { $0.latency = .milliseconds(20) }
///     await proxy.resetAll()                                  // every open connection gets an RST
/// }
/// ```
///
/// Each accepted connection gets its own connection to the target, on the same event loop.
/// Network time is real time: these faults are for integration tests against real servers.
/// The proxy buffers what it delays; it is a test tool, not a production relay.
public final class FaultProxy: Sendable {
    /// The port the proxy listens on, on 127.0.0.1.
    public let port: Int
    /// The host the proxy forwards to.
    public let targetHost: String
    /// The port the proxy forwards to.
    public let targetPort: Int

    private let shared: ProxyShared
    private let serverChannel: any Channel

    private init(port: Int, targetHost: String, targetPort: Int, shared: ProxyShared, serverChannel: any Channel) {
        self.port = port
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.shared = shared
        self.serverChannel = serverChannel
    }

    /// Starts a proxy on 127.0.0.1 and a free port, forwarding to `targetHost:targetPort`.
    /// - Parameters:
    ///   - targetHost: the server's host.
    ///   - targetPort: the server's port.
    ///   - seed: the seed of the jitter draws.
    ///   - group: the event loops to run on; NIO's shared singleton group by default.
    /// - Throws: ``CacheError`` with `.connection` when the proxy cannot listen.
    public static func start(
        targetHost: String = "127.0.0.1", targetPort: Int, seed: UInt64 = 0,
        group: (any EventLoopGroup)? = nil
    ) async throws(CacheError) -> FaultProxy {
        let group = group ?? MultiThreadedEventLoopGroup.singleton
        let shared = ProxyShared(seed: seed)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { child in
                Self.accept(child, shared: shared, targetHost: targetHost, targetPort: targetPort)
            }
        do {
            let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
            guard let port = channel.localAddress?.port else {
                try? await channel.close()
                throw CacheError(.connection, "fault proxy: no local port")
            }
            return FaultProxy(port: port, targetHost: targetHost, targetPort: targetPort, shared: shared, serverChannel: channel)
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.connection, "fault proxy could not listen on 127.0.0.1", underlying: error)
        }
    }

    /// Runs `body` with a started proxy and shuts the proxy down afterwards, whatever happens.
    /// - Throws: what `body` throws, or ``CacheError`` when the proxy cannot start.
    public static func withProxy<R>(
        targetHost: String = "127.0.0.1", targetPort: Int, seed: UInt64 = 0,
        _ body: (FaultProxy) async throws -> R
    ) async throws -> R {
        let proxy = try await start(targetHost: targetHost, targetPort: targetPort, seed: seed)
        do {
            let result = try await body(proxy)
            await proxy.shutdown()
            return result
        } catch {
            await proxy.shutdown()
            throw error
        }
    }

    /// Sets up one accepted connection: connect to the target, wire both ways, start reading.
    private static func accept(_ child: any Channel, shared: ProxyShared, targetHost: String, targetPort: Int) -> EventLoopFuture<Void> {
        switch shared.state.withLock({ $0.acceptMode }) {
        case .reset:
            shared.countReset()
            return child.eventLoop.makeCompletedFuture {
                try child.pipeline.syncOperations.addHandler(ResetOnActive())
            }.flatMap { child.setOption(ChannelOptions.autoRead, value: true) }
        case .forward, .hold:
            break
        }
        return ClientBootstrap(group: child.eventLoop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connect(host: targetHost, port: targetPort)
            .flatMap { server -> EventLoopFuture<Void> in
                let connection = ProxyConnection(client: child, server: server)
                do {
                    try child.pipeline.syncOperations.addHandler(
                        ProxyForwarder(direction: .upstream, shared: shared, connection: connection, peer: server))
                    try server.pipeline.syncOperations.addHandler(
                        ProxyForwarder(direction: .downstream, shared: shared, connection: connection, peer: child))
                } catch {
                    connection.close()
                    return child.eventLoop.makeFailedFuture(error)
                }
                shared.add(connection)
                child.closeFuture.whenComplete { _ in shared.remove(connection) }
                return child.setOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                    .flatMap { child.setOption(ChannelOptions.autoRead, value: true) }
            }
            .flatMapError { _ in
                // The target is down: the client sees its connection reset once it is active.
                shared.countReset()
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ResetOnActive())
                }.flatMap { child.setOption(ChannelOptions.autoRead, value: true) }
            }
    }

    // MARK: Control

    /// Changes the toxics of one direction, or of both when `direction` is `nil`.
    public func update(_ direction: ProxyDirection? = nil, _ change: (inout ProxyToxics) -> Void) {
        shared.state.withLock { s in
            for d in direction.map({ [$0] }) ?? ProxyDirection.allCases {
                var t = s.toxics[d] ?? .none
                change(&t)
                s.toxics[d] = t
            }
        }
    }

    /// The toxics of a direction.
    public func toxics(_ direction: ProxyDirection) -> ProxyToxics {
        shared.state.withLock { $0.toxics[direction] ?? .none }
    }

    /// Removes every toxic and goes back to accepting connections.
    public func heal() async {
        shared.state.withLock { s in
            s.toxics = [.upstream: .none, .downstream: .none]
        }
        await setAcceptMode(.forward)
    }

    /// Changes what happens to new connections; returns once the listener has switched.
    public func setAcceptMode(_ mode: ProxyAcceptMode) async {
        let changed = shared.state.withLock { s -> Bool in
            defer { s.acceptMode = mode }
            return (s.acceptMode == .hold) != (mode == .hold)
        }
        guard changed else { return }
        try? await serverChannel.setOption(ChannelOptions.autoRead, value: mode != .hold).get()
    }

    /// What happens to new connections.
    public var acceptMode: ProxyAcceptMode { shared.state.withLock { $0.acceptMode } }

    /// Resets every open connection now (RST to both the client and the target).
    /// - Returns: how many connections were reset.
    @discardableResult
    public func resetAll() async -> Int {
        let connections = shared.state.withLock { s in
            let all = Array(s.connections.values)
            s.connections.removeAll()
            s.resets += all.count
            return all
        }
        for connection in connections {
            try? await connection.reset().get()
        }
        return connections.count
    }

    // MARK: Figures

    /// Connections open right now.
    public var openConnections: Int { shared.state.withLock { $0.connections.count } }
    /// Connections accepted and wired to the target since the start.
    public var acceptedConnections: Int { shared.state.withLock { $0.accepted } }
    /// Connections reset on purpose (``resetAll()``, ``ProxyToxics/resetAfterBytes``, ``ProxyAcceptMode/reset``).
    public var resetConnections: Int { shared.state.withLock { $0.resets } }
    /// Bytes passed on in a direction since the start.
    public func bytesForwarded(_ direction: ProxyDirection) -> Int {
        shared.state.withLock { $0.bytes[direction] ?? 0 }
    }

    /// Bytes a blackhole dropped in a direction since the start.
    public func bytesDropped(_ direction: ProxyDirection) -> Int {
        shared.state.withLock { $0.dropped[direction] ?? 0 }
    }

    // MARK: Lifecycle

    /// Stops listening and closes every connection.
    public func shutdown() async {
        try? await serverChannel.close()
        let connections = shared.state.withLock { s in
            let all = Array(s.connections.values)
            s.connections.removeAll()
            return all
        }
        for connection in connections { connection.close() }
    }
}
