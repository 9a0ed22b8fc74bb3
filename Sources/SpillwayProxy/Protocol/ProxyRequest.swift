public import NIOCore

/// One command a client sent: its arguments as bulk strings, the name first.
///
/// A request read off the wire keeps its bytes as received (``wire``): forwarded unchanged, it
/// is written as those bytes, never encoded again. Changing ``arguments`` (a hashed key, a
/// spilled value) drops them. Two requests are equal when their arguments are.
public struct ProxyRequest: Sendable, Hashable {
    /// The arguments, binary-safe; `arguments[0]` is the command's name.
    public var arguments: [ByteBuffer] {
        didSet {
            wire = nil
            name = Self.upper(arguments[0])
        }
    }

    /// The request as the client sent it (a RESP array), while ``arguments`` are unchanged;
    /// `nil` for a request built here or sent inline.
    public private(set) var wire: ByteBuffer?

    /// The command's name in upper case (`GET`, `CLIENT`).
    public private(set) var name: String

    /// Creates a request from its arguments (at least one: the name).
    public init(_ arguments: [ByteBuffer]) {
        precondition(!arguments.isEmpty, "a request has at least its name")
        self.arguments = arguments
        self.name = Self.upper(arguments[0])
        self.wire = nil
    }

    /// Creates a request from its arguments and the bytes they were read from.
    init(_ arguments: [ByteBuffer], wire: ByteBuffer?) {
        self.init(arguments)
        self.wire = wire
    }

    /// Creates a request from text arguments (tests, the proxy's own commands).
    public init(_ arguments: String...) {
        self.init(arguments.map { ByteBuffer(string: $0) })
    }

    public static func == (lhs: ProxyRequest, rhs: ProxyRequest) -> Bool { lhs.arguments == rhs.arguments }

    public func hash(into hasher: inout Hasher) { hasher.combine(arguments) }

    /// The argument at `index` in upper case, or `nil` past the end (subcommands, options).
    public func upperArgument(_ index: Int) -> String? {
        index < arguments.count ? Self.upper(arguments[index]) : nil
    }

    /// The number of arguments, the name included.
    public var count: Int { arguments.count }

    /// Appends the request to `buffer` as a RESP array of bulk strings (its ``wire`` bytes when
    /// it has them).
    public func write(into buffer: inout ByteBuffer) {
        if let wire {
            buffer.writeImmutableBuffer(wire)
            return
        }
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
        return buffer.withUnsafeReadableBytes { bytes in
            if !bytes.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") || $0 >= 0x80 }) {
                return String(decoding: bytes, as: UTF8.self)
            }
            return String(decoding: bytes, as: UTF8.self).uppercased()
        }
    }
}
