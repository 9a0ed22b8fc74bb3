public import Spillway
import NIOCore
import NIOPosix

/// Reads a running proxy's status JSON from its status port (what `spillway proxy status`
/// prints): one HTTP/1.0 `GET /` to `host:port`, the body returned as it came.
public enum StatusClient {
    /// The status JSON of the proxy whose `--status-port` is `port`.
    /// - Throws: `.connection` when nothing answers there, `.protocolError` when the answer is
    ///   not an HTTP 200 with a body.
    public static func fetch(host: String = "127.0.0.1", port: Int) async throws(CacheError) -> String {
        let received: ByteBuffer
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            received = try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET / HTTP/1.0\r\nHost: \(host)\r\n\r\n"))
                var all = ByteBuffer()
                for try await var chunk in inbound {
                    all.writeBuffer(&chunk)
                    if all.readableBytes > 1 << 20 { break }
                }
                return all
            }
        } catch {
            throw CacheError(.connection, "no proxy status on \(host):\(port): \(error)", underlying: error)
        }
        let bytes = Array(received.readableBytesView)
        let separator = Array("\r\n\r\n".utf8)
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"),
            let split = (0...max(0, bytes.count - separator.count)).first(where: { bytes[$0..<min(bytes.count, $0 + separator.count)].elementsEqual(separator) })
        else {
            throw CacheError(.protocolError, "\(host):\(port) did not answer with the proxy's status: \(text.prefix(80))")
        }
        var body = bytes[(split + separator.count)...]
        while let last = body.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") { body = body.dropLast() }
        return String(decoding: body, as: UTF8.self)
    }
}
