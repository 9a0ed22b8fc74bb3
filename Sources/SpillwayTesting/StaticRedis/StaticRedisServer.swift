public import NIOCore
import NIOPosix
public import Spillway

/// A tiny in-process RESP server on 127.0.0.1 for benchmarks: `SET` answers `+OK` (a null
/// with the `GET` option: there is never a previous value), `GET`
/// answers one fixed bulk string, `HELLO` a minimal RESP3 map, `PING` `+PONG`, anything else an
/// error. It stores nothing and allocates next to nothing per command (replies are prebuilt and
/// shared), so a client's round-trip cost is what a benchmark on it measures, without a real
/// server's latency or noise.
///
/// ```swift
/// let server = try await StaticRedisServer.start(getValue: ByteBuffer(repeating: 0x61, count: 100))
/// let client = try RedisClient(configuration: RedisConfiguration(port: server.port))
/// // … benchmark …
/// await client.close()
/// await server.stop()
/// ```
public final class StaticRedisServer: Sendable {
    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// Starts a server on 127.0.0.1 and a free port.
    /// - Parameters:
    ///   - getValue: the value every `GET` returns.
    ///   - group: the event loops to run on; NIO's shared singleton group by default.
    /// - Throws: ``CacheError`` with `.connection` when it cannot listen.
    public static func start(getValue: ByteBuffer, group: (any EventLoopGroup)? = nil) async throws(CacheError) -> StaticRedisServer {
        do {
            return try await bind(getValue: getValue, group: group).get()
        } catch {
            throw listenError(error)
        }
    }

    /// Starts a server like ``start(getValue:group:)``, blocking the calling thread until it
    /// listens: for synchronous set-up code such as a benchmark suite's registration.
    /// - Throws: ``CacheError`` with `.connection` when it cannot listen.
    @available(*, noasync, message: "use start(getValue:group:) in async code")
    public static func startBlocking(getValue: ByteBuffer, group: (any EventLoopGroup)? = nil) throws(CacheError) -> StaticRedisServer {
        do {
            return try bind(getValue: getValue, group: group).wait()
        } catch {
            throw listenError(error)
        }
    }

    private static func bind(getValue: ByteBuffer, group: (any EventLoopGroup)?) -> EventLoopFuture<StaticRedisServer> {
        let replies = StaticRedisReplies(getValue: getValue)
        return ServerBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(StaticRedisHandler(replies: replies))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .flatMapThrowing { channel in
                guard let port = channel.localAddress?.port else {
                    channel.close(promise: nil)
                    throw CacheError(.connection, "the static Redis server has no port")
                }
                return StaticRedisServer(port: port, channel: channel)
            }
    }

    private static func listenError(_ error: any Error) -> CacheError {
        (error as? CacheError) ?? CacheError(.connection, "the static Redis server cannot listen: \(error)", underlying: error)
    }

    /// Stops listening. Open connections are left to their clients to close.
    public func stop() async {
        try? await channel.close()
    }
}
