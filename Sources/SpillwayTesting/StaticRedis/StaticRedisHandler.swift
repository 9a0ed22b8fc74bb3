import NIOCore
import Spillway

/// One connection of a ``StaticRedisServer``: finds each complete command (`*n` then n bulk
/// strings) in what arrived, writes its reply (prebuilt, or the script's), and flushes once per
/// read. Partial commands wait for more bytes.
final class StaticRedisHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let replies: StaticRedisReplies
    /// When set, every command's arguments go to it and it decides the reply.
    private let script: StaticRedisServer.Script?
    private var pending: ByteBuffer?
    private var wrote = false
    /// Set once a scripted reply closed the connection: later input is dropped.
    private var closing = false

    init(replies: StaticRedisReplies, script: StaticRedisServer.Script?) {
        self.replies = replies
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var input = unwrapInboundIn(data)
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        while input.readableBytes > 0 {
            let step = input.withUnsafeReadableBytes { Self.scan($0, replies, scripted: script != nil) }
            switch step {
            case .incomplete:
                pending = input
                return
            case .command(let length, let reply):
                input.moveReaderIndex(forwardBy: length)
                context.write(wrapOutboundOut(reply), promise: nil)
                wrote = true
            case .arguments(let length, let arguments):
                input.moveReaderIndex(forwardBy: length)
                guard let script else { return }
                switch script(arguments) {
                case .reply(let text):
                    context.write(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                    wrote = true
                case .replyAndClose(let text):
                    closing = true
                    wrote = false
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in
                        bound.value.close(promise: nil)
                    }
                    return
                case .ignore:
                    break
                }
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
        /// A command answered by a prebuilt reply.
        case command(length: Int, reply: ByteBuffer)
        /// A command's arguments, for the script.
        case arguments(length: Int, [String])
        case invalid
    }

    /// Scans one command at the start of `bytes`. With `scripted`, it returns the command's
    /// arguments as strings; otherwise the prebuilt reply, without copying anything.
    private static func scan(_ bytes: UnsafeRawBufferPointer, _ replies: StaticRedisReplies, scripted: Bool) -> Step {
        var i = 0
        func number(after prefix: UInt8) -> Int?? {
            guard i < bytes.count else { return .some(nil) }
            guard bytes[i] == prefix else { return nil }
            var j = i + 1
            while j < bytes.count, bytes[j] &- UInt8(ascii: "0") < 10 { j += 1 }
            if j < bytes.count, bytes[j] != UInt8(ascii: "\r") { return nil }
            guard j + 1 < bytes.count else { return .some(nil) }
            guard bytes[j + 1] == UInt8(ascii: "\n"),
                let n = DecimalInteger.parseOrNil(UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<j])), n <= 1 << 40
            else { return nil }
            i = j + 2
            return .some(Int(n))
        }
        guard let count = number(after: UInt8(ascii: "*")) else { return .invalid }
        guard let count else { return .incomplete }
        guard count > 0 else { return .invalid }
        var name: UnsafeRawBufferPointer?
        var returnsPrevious = false
        var arguments: [String] = []
        for index in 0..<count {
            guard let length = number(after: UInt8(ascii: "$")) else { return .invalid }
            guard let length else { return .incomplete }
            guard i + length + 2 <= bytes.count else { return .incomplete }
            let argument = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)])
            if scripted {
                arguments.append(String(decoding: argument, as: UTF8.self))
            } else if index == 0 {
                name = argument
            } else if index >= 3, StaticRedisReplies.equalsIgnoringCase(argument, "get") {
                // `SET key value … GET`: the previous value, which this server never has.
                returnsPrevious = true
            }
            i += length + 2
        }
        if scripted { return .arguments(length: i, arguments) }
        return .command(length: i, reply: replies.reply(to: name!, returnsPrevious: returnsPrevious))
    }
}
