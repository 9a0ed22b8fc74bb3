public import NIOCore
public import SpillwayRedis

/// Writes a ``RESPValue`` back to the wire, in the form it was received: what the proxy sends a
/// client for each reply of its upstream.
///
/// RESP2 values are written as RESP2 and RESP3 values as RESP3 (the upstream speaks whatever the
/// client asked for with `HELLO`), with one loss: RESP2's null array (`*-1`) is written as the
/// null bulk string (`$-1`), since the decoder folds both into ``RESPValue/null``; every client
/// library reads both as "nothing". Doubles are written with Swift's shortest round-trip form.
public enum RESPValueWriter {
    /// Appends `value` to `buffer`. `resp3` says whether a null is written as RESP3's `_`.
    public static func write(_ value: RESPValue, resp3: Bool, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let bytes):
            buffer.writeStaticString("+")
            buffer.writeImmutableBuffer(bytes)
            buffer.writeStaticString("\r\n")
        case .error(let bytes):
            if bytes.readableBytesView.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
                buffer.writeString("!\(bytes.readableBytes)\r\n")
                buffer.writeImmutableBuffer(bytes)
            } else {
                buffer.writeStaticString("-")
                buffer.writeImmutableBuffer(bytes)
            }
            buffer.writeStaticString("\r\n")
        case .integer(let n):
            buffer.writeString(":\(n)\r\n")
        case .bulkString(let bytes):
            buffer.writeString("$\(bytes.readableBytes)\r\n")
            buffer.writeImmutableBuffer(bytes)
            buffer.writeStaticString("\r\n")
        case .null:
            if resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
        case .double(let d):
            let text: String
            if d.isNaN { text = "nan" } else if d == .infinity { text = "inf" } else if d == -.infinity { text = "-inf" } else { text = "\(d)" }
            buffer.writeString(",\(text)\r\n")
        case .boolean(let b):
            buffer.writeStaticString(b ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let bytes):
            buffer.writeStaticString("(")
            buffer.writeImmutableBuffer(bytes)
            buffer.writeStaticString("\r\n")
        case .verbatimString(let format, let bytes):
            buffer.writeString("=\(format.readableBytes + 1 + bytes.readableBytes)\r\n")
            buffer.writeImmutableBuffer(format)
            buffer.writeStaticString(":")
            buffer.writeImmutableBuffer(bytes)
            buffer.writeStaticString("\r\n")
        case .array(let elements):
            buffer.writeString("*\(elements.count)\r\n")
            for element in elements { write(element, resp3: resp3, into: &buffer) }
        case .set(let elements):
            buffer.writeString("~\(elements.count)\r\n")
            for element in elements { write(element, resp3: resp3, into: &buffer) }
        case .push(let elements):
            buffer.writeString(">\(elements.count)\r\n")
            for element in elements { write(element, resp3: resp3, into: &buffer) }
        case .map(let entries):
            buffer.writeString("%\(entries.count)\r\n")
            for entry in entries {
                write(entry.key, resp3: resp3, into: &buffer)
                write(entry.value, resp3: resp3, into: &buffer)
            }
        }
    }

    /// The error reply `-<message>` (line breaks replaced by spaces).
    public static func error(_ message: String) -> RESPValue {
        let line = String(message.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
        return .error(ByteBuffer(string: line))
    }
}
