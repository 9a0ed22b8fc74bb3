public import NIOCore

/// One command a client sent: its arguments as bulk strings, the name first.
public struct ProxyRequest: Sendable, Hashable {
    /// The arguments, binary-safe; `arguments[0]` is the command's name.
    public var arguments: [ByteBuffer]

    /// Creates a request from its arguments (at least one: the name).
    public init(_ arguments: [ByteBuffer]) {
        precondition(!arguments.isEmpty, "a request has at least its name")
        self.arguments = arguments
    }

    /// Creates a request from text arguments (tests, the proxy's own commands).
    public init(_ arguments: String...) {
        self.init(arguments.map { ByteBuffer(string: $0) })
    }

    /// The command's name in upper case (`GET`, `CLIENT`).
    public var name: String { Self.upper(arguments[0]) }

    /// The argument at `index` in upper case, or `nil` past the end (subcommands, options).
    public func upperArgument(_ index: Int) -> String? {
        index < arguments.count ? Self.upper(arguments[index]) : nil
    }

    /// The number of arguments, the name included.
    public var count: Int { arguments.count }

    /// Appends the request to `buffer` as a RESP array of bulk strings.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.readableBytes)\r\n")
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// ASCII upper case of a short argument (longer ones are never command words).
    static func upper(_ buffer: ByteBuffer) -> String {
        guard buffer.readableBytes <= 64 else { return "" }
        return String(decoding: buffer.readableBytesView, as: UTF8.self).uppercased()
    }
}
