package import NIOCore
import NIOPosix
package import Spillway

/// A tiny in-process RESP server on 127.0.0.1, the one fake Redis of the package, in two modes:
///
/// - **Static** (``start(getValue:group:)``), for benchmarks: `SET` answers `+OK` (a null with
///   the `GET` option: there is never a previous value), `GET` answers one fixed bulk string,
///   `HELLO` a minimal RESP3 map, `PING` `+PONG`, anything else an error. It stores nothing and
///   allocates next to nothing per command (replies are prebuilt and shared), so a client's
///   round-trip cost is what a benchmark on it measures, without a real server's latency or noise.
/// - **Scripted** (``start(group:script:)``, ``withServer(_:_:)``), for protocol failures a real
///   Redis will not produce on demand: a connection dropped mid-pipeline, a reply that never
///   comes, late or malformed replies. A ``Script`` sees each command's arguments and returns an
///   ``Action``.
///
/// ```swift
/// let server = try await StaticRedisServer.start(getValue: ByteBuffer(repeating: 0x61, count: 100))
/// let client = try RedisClient(configuration: RedisConfiguration(port: server.port))
/// // … benchmark …
/// await client.close()
/// await server.stop()
/// ```
package final class StaticRedisServer: Sendable {
    /// What a scripted server does with one command.
    package enum Action: Sendable {
        /// Sends these raw bytes (RESP, written as text: `"+OK\r\n"`).
        case reply(String)
        /// Sends these raw bytes, then closes the connection (later commands are dropped).
        case replyAndClose(String)
        /// Sends nothing.
        case ignore
    }

    /// Decides a scripted server's answer to one command, given its arguments (the command's
    /// name first) as UTF-8 text. It is called on the connection's event loop, in order.
    package typealias Script = @Sendable ([String]) -> Action

    /// The port it listens on, on 127.0.0.1.
    package let port: Int
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
    package static func start(getValue: ByteBuffer, group: (any EventLoopGroup)? = nil) async throws(CacheError) -> StaticRedisServer {
        do {
            return try await bind(getValue: getValue, group: group).get()
        } catch {
            throw listenError(error)
        }
    }

    /// Starts a scripted server on 127.0.0.1 and a free port.
    /// - Parameters:
    ///   - group: the event loops to run on; NIO's shared singleton group by default.
    ///   - script: what to answer to each command.
    /// - Throws: ``CacheError`` with `.connection` when it cannot listen.
    package static func start(group: (any EventLoopGroup)? = nil, script: @escaping Script) async throws(CacheError) -> StaticRedisServer {
        do {
            return try await bind(getValue: ByteBuffer(), group: group, script: script).get()
        } catch {
            throw listenError(error)
        }
    }

    /// Runs `body` with a scripted server (``start(group:script:)``) and stops the server
    /// afterwards, also when `body` throws.
    /// - Throws: ``CacheError`` with `.connection` when the server cannot listen, or what `body`
    ///   throws.
    package static func withServer<R>(_ script: @escaping Script, _ body: (StaticRedisServer) async throws -> R) async throws -> R {
        let server = try await start(script: script)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// The RESP bulk string holding `text`: `$<length>\r\n<text>\r\n`, for scripted replies.
    package static func bulk(_ text: String) -> String { "$\(text.utf8.count)\r\n\(text)\r\n" }

    /// Starts a server like ``start(getValue:group:)``, blocking the calling thread until it
    /// listens: for synchronous set-up code such as a benchmark suite's registration.
    /// - Throws: ``CacheError`` with `.connection` when it cannot listen.
    @available(*, noasync, message: "use start(getValue:group:) in async code")
    package static func startBlocking(getValue: ByteBuffer, group: (any EventLoopGroup)? = nil) throws(CacheError) -> StaticRedisServer {
        do {
            return try bind(getValue: getValue, group: group).wait()
        } catch {
            throw listenError(error)
        }
    }

    private static func bind(getValue: ByteBuffer, group: (any EventLoopGroup)?, script: Script? = nil) -> EventLoopFuture<StaticRedisServer> {
        let replies = StaticRedisReplies(getValue: getValue)
        return ServerBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(StaticRedisHandler(replies: replies, script: script))
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
    package func stop() async {
        try? await channel.close()
    }
}
