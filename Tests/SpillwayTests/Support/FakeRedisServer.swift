import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import Synchronization

/// A scripted RESP server on 127.0.0.1, for protocol failures a real Redis will not produce on
/// demand: a connection dropped mid-pipeline, a reply that never comes, late replies.
///
/// `respond` sees each command (its arguments as strings) and says what to send back.
final class FakeRedisServer: Sendable {
    /// What the server does with one command.
    enum Action: Sendable {
        /// Sends these raw bytes.
        case reply(String)
        /// Sends these raw bytes, then closes the connection.
        case replyAndClose(String)
        /// Sends nothing (yet).
        case ignore
    }

    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start(_ respond: @escaping @Sendable ([String]) -> Action) async throws -> FakeRedisServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(respond: respond))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeRedisServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    static func withServer<R>(_ respond: @escaping @Sendable ([String]) -> Action, _ body: (FakeRedisServer) async throws -> R) async throws -> R {
        let server = try await start(respond)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let respond: @Sendable ([String]) -> Action
        var buffer = ByteBuffer()
        var decoder = RESPDecoder()

        init(respond: @escaping @Sendable ([String]) -> Action) {
            self.respond = respond
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let value = try? decoder.decode(&buffer) {
                let args = value.elements?.map { $0.string ?? "" } ?? []
                switch respond(args) {
                case .reply(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                case .replyAndClose(let text):
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in
                        bound.value.close(promise: nil)
                    }
                    return
                case .ignore:
                    break
                }
            }
        }
    }
}

/// Encodes a bulk-string reply.
func bulk(_ text: String) -> String { "$\(text.utf8.count)\r\n\(text)\r\n" }
