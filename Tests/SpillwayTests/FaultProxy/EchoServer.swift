import NIOCore
import NIOPosix

/// A tiny TCP echo server on 127.0.0.1 and a free port, for testing the fault proxy without a
/// real Redis.
struct EchoServer {
    private final class Echo: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> EchoServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(Echo()) } }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return EchoServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// A test client connection: writes bytes and reads what comes back, chunk by chunk.
struct TestConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int) async throws -> TestConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return TestConnection(channel: channel)
    }

    /// Connects, sends `text` and reads `count` bytes; a failure to connect is returned like a
    /// failure to read.
    static func exchange(port: Int, _ text: String?, expecting count: Int) async -> (chunks: [String], error: (any Error)?) {
        do {
            return try await connect(port: port).exchange(text, expecting: count)
        } catch {
            return ([], error)
        }
    }

    /// Sends `text`, then reads until `count` bytes came back or the stream ends or fails.
    /// - Returns: the chunks read, and the error that ended the stream, if any.
    func exchange(_ text: String?, expecting count: Int) async -> (chunks: [String], error: (any Error)?) {
        var chunks: [String] = []
        do {
            try await channel.executeThenClose { inbound, outbound in
                if let text { try await outbound.write(ByteBuffer(string: text)) }
                var received = 0
                for try await chunk in inbound {
                    chunks.append(String(buffer: chunk))
                    received += chunk.readableBytes
                    if received >= count { break }
                }
            }
            return (chunks, nil)
        } catch {
            return (chunks, error)
        }
    }
}
