import NIOCore

/// One connection of a ``StaticRedisServer``: finds each complete command (`*n` then n bulk
/// strings) in what arrived, writes the prebuilt reply to it, and flushes once per read.
/// Partial commands wait for more bytes.
final class StaticRedisHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let replies: StaticRedisReplies
    private var pending: ByteBuffer?
    private var wrote = false

    init(replies: StaticRedisReplies) {
        self.replies = replies
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        while input.readableBytes > 0 {
            let step = input.withUnsafeReadableBytes { Self.scan($0, replies) }
            switch step {
            case .incomplete:
                pending = input
                return
            case .command(let length, let reply):
                input.moveReaderIndex(forwardBy: length)
                context.write(wrapOutboundOut(reply), promise: nil)
                wrote = true
            case .invalid:
                context.writeAndFlush(wrapOutboundOut(replies.protocolError), promise: nil)
                context.close(promise: nil)
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if wrote {
            wrote = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private enum Step {
        case incomplete
        case command(length: Int, reply: ByteBuffer)
        case invalid
    }

    /// Scans one command at the start of `bytes`.
    private static func scan(_ bytes: UnsafeRawBufferPointer, _ replies: StaticRedisReplies) -> Step {
        var i = 0
        func number(after prefix: UInt8) -> Int?? {
            guard i < bytes.count else { return .some(nil) }
            guard bytes[i] == prefix else { return nil }
            var j = i + 1
            var n = 0
            while j < bytes.count, bytes[j] != UInt8(ascii: "\r") {
                let d = Int(bytes[j]) - Int(UInt8(ascii: "0"))
                guard (0...9).contains(d), n < 1 << 40 else { return nil }
                n = n * 10 + d
                j += 1
            }
            guard j + 1 < bytes.count else { return .some(nil) }
            guard bytes[j + 1] == UInt8(ascii: "\n") else { return nil }
            i = j + 2
            return .some(n)
        }
        guard let count = number(after: UInt8(ascii: "*")) else { return .invalid }
        guard let count else { return .incomplete }
        guard count > 0 else { return .invalid }
        var name: UnsafeRawBufferPointer?
        var returnsPrevious = false
        for index in 0..<count {
            guard let length = number(after: UInt8(ascii: "$")) else { return .invalid }
            guard let length else { return .incomplete }
            guard i + length + 2 <= bytes.count else { return .incomplete }
            let argument = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)])
            if index == 0 {
                name = argument
            } else if index >= 3, StaticRedisReplies.equalsIgnoringCase(argument, "get") {
                // `SET key value … GET`: the previous value, which this server never has.
                returnsPrevious = true
            }
            i += length + 2
        }
        return .command(length: i, reply: replies.reply(to: name!, returnsPrevious: returnsPrevious))
    }
}
