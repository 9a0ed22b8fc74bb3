import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Serves the proxy's counters as JSON on 127.0.0.1: any request on the port gets one HTTP/1.0
/// response with ``ProxyStats/json(extra:)`` as its body, then the connection closes
/// (`curl http://127.0.0.1:PORT/`). It stops listening on graceful shutdown.
struct StatusServer: Sendable {
    let stats: ProxyStats
    let group: any EventLoopGroup
    let logger: Logger

    func run(port: Int) async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        logger.info("status JSON on http://127.0.0.1:\(server.channel.localAddress?.port ?? port)/")
        let channel = server.channel
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { clients in
                for try await client in clients {
                    try? await client.executeThenClose { inbound, outbound in
                        var iterator = inbound.makeAsyncIterator()
                        _ = try await iterator.next()
                        let body = stats.json() + "\n"
                        let response = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                        try await outbound.write(ByteBuffer(string: response))
                    }
                }
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
