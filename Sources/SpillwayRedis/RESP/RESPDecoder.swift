public import NIOCore
public import Spillway

/// An incremental RESP3 decoder (RESP2 is a subset), safe on any input.
///
/// ``decode(_:)`` takes one complete value off the front of a buffer, or returns `nil` and leaves
/// the buffer untouched when more bytes are needed. Bytes that do not follow the protocol throw
/// `CacheError(.protocolError)`; lengths, nesting and line lengths are bounded by ``Limits``, so a
/// hostile or broken peer can neither crash the decoder nor make it allocate without bound.
/// Attributes (`|`) are read and discarded. Streamed strings and aggregates (`$?`, `*?`) are
/// refused: Redis never sends them in reply to the commands Spillway uses.
public struct RESPDecoder: Sendable {
    /// Bounds on what the decoder accepts.
    public struct Limits: Sendable, Hashable {
        /// The deepest nesting of aggregates (arrays, maps, sets, pushes, attributes).
        public var maxDepth: Int
        /// The longest bulk string, blob error or verbatim string, in bytes (Redis's
        /// `proto-max-bulk-len` default: 512 MiB).
        public var maxBulkLength: Int
        /// The most elements one aggregate may declare.
        public var maxAggregateCount: Int
        /// The longest simple line (`+`, `-`, `:`, `,`, `(`, `#`, `_` and headers), in bytes.
        public var maxLineLength: Int

        /// Creates limits.
        public init(maxDepth: Int = 32, maxBulkLength: Int = 512 * 1024 * 1024, maxAggregateCount: Int = 1 << 24, maxLineLength: Int = 64 * 1024) {
            self.maxDepth = maxDepth
            self.maxBulkLength = maxBulkLength
            self.maxAggregateCount = maxAggregateCount
            self.maxLineLength = maxLineLength
        }
    }

    /// The bounds in force.
    public var limits: Limits

    /// Creates a decoder.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Decodes one value from the front of `buffer`.
    /// - Returns: the value, with `buffer`'s reader index moved past it; or `nil` when `buffer`
    ///   holds only part of a value (then `buffer` is unchanged).
    /// - Throws: `CacheError(.protocolError)` when the bytes cannot be RESP.
    public func decode(_ buffer: inout ByteBuffer) throws(CacheError) -> RESPValue? {
        let source = buffer
        let result: Result<(RESPValue, Int)?, CacheError> = source.withUnsafeReadableBytes { bytes in
            var parser = Parser(bytes: bytes, source: source, limits: limits)
            do throws(CacheError) {
                guard let value = try parser.value(depth: 0) else { return .success(nil) }
                return .success((value, parser.position))
            } catch {
                return .failure(error)
            }
        }
        guard let (value, consumed) = try result.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: consumed)
        return value
    }

    /// Decodes up to `maxCount` complete values from the front of `buffer` in one pass (a
    /// pipeline's replies), appending them to `values`.
    /// - Returns: how many values were appended; `buffer`'s reader index is moved past them, and
    ///   a value that has only partly arrived is left in `buffer`.
    /// - Throws: `CacheError(.protocolError)` when the bytes cannot be RESP.
    public func decode(_ buffer: inout ByteBuffer, maxCount: Int, into values: inout [RESPValue]) throws(CacheError) -> Int {
        let source = buffer
        var count = 0
        let result: Result<Int, CacheError> = source.withUnsafeReadableBytes { bytes in
            var parser = Parser(bytes: bytes, source: source, limits: limits)
            var consumed = 0
            do throws(CacheError) {
                while count < maxCount, let value = try parser.value(depth: 0) {
                    values.append(value)
                    count += 1
                    consumed = parser.position
                }
            } catch {
                return .failure(error)
            }
            return .success(consumed)
        }
        buffer.moveReaderIndex(forwardBy: try result.get())
        return count
    }
}

extension RESPDecoder {
    /// One pass over the readable bytes. Every method returns `nil` when the input ends early.
    struct Parser {
        let bytes: UnsafeRawBufferPointer
        let source: ByteBuffer
        let limits: Limits
        var position = 0

        init(bytes: UnsafeRawBufferPointer, source: ByteBuffer, limits: Limits) {
            self.bytes = bytes
            self.source = source
            self.limits = limits
        }

        static func failure(_ message: String) -> CacheError {
            CacheError(.protocolError, "invalid RESP: \(message)")
        }

        mutating func value(depth: Int) throws(CacheError) -> RESPValue? {
            guard position < bytes.count else { return nil }
            let start = position
            let type = bytes[position]
            position += 1
            let result: RESPValue?
            switch type {
            case UInt8(ascii: "+"):
                guard let range = try line() else { return reset(start) }
                result = .simpleString(slice(range))
            case UInt8(ascii: "-"):
                guard let range = try line() else { return reset(start) }
                result = .error(slice(range))
            case UInt8(ascii: ":"):
                guard let range = try line() else { return reset(start) }
                result = .integer(try integer(range))
            case UInt8(ascii: "$"):
                guard let range = try bulk(allowNull: true) else { return reset(start) }
                if let range { result = .bulkString(slice(range)) } else { result = .null }
            case UInt8(ascii: "!"):
                guard let range = try bulk(allowNull: false), let range else { return reset(start) }
                result = .error(slice(range))
            case UInt8(ascii: "="):
                guard let range = try bulk(allowNull: false), let range else { return reset(start) }
                guard range.count >= 4, bytes[range.lowerBound + 3] == UInt8(ascii: ":") else {
                    throw Self.failure("verbatim string without a format prefix")
                }
                result = .verbatimString(format: slice(range.lowerBound..<range.lowerBound + 3), slice(range.lowerBound + 4..<range.upperBound))
            case UInt8(ascii: "_"):
                guard let range = try line() else { return reset(start) }
                guard range.isEmpty else { throw Self.failure("null with a payload") }
                result = .null
            case UInt8(ascii: ","):
                guard let range = try line() else { return reset(start) }
                result = .double(try double(range))
            case UInt8(ascii: "#"):
                guard let range = try line() else { return reset(start) }
                guard range.count == 1 else { throw Self.failure("boolean is not t or f") }
                switch bytes[range.lowerBound] {
                case UInt8(ascii: "t"): result = .boolean(true)
                case UInt8(ascii: "f"): result = .boolean(false)
                default: throw Self.failure("boolean is not t or f")
                }
            case UInt8(ascii: "("):
                guard let range = try line() else { return reset(start) }
                try validateBigNumber(range)
                result = .bigNumber(slice(range))
            case UInt8(ascii: "*"):
                guard let elements = try aggregate(depth: depth, allowNull: true) else { return reset(start) }
                if let elements { result = .array(elements) } else { result = .null }
            case UInt8(ascii: "~"):
                guard let elements = try aggregate(depth: depth, allowNull: false), let elements else { return reset(start) }
                result = .set(elements)
            case UInt8(ascii: ">"):
                guard let elements = try aggregate(depth: depth, allowNull: false), let elements else { return reset(start) }
                result = .push(elements)
            case UInt8(ascii: "%"):
                guard let entries = try map(depth: depth) else { return reset(start) }
                result = .map(entries)
            case UInt8(ascii: "|"):
                // An attribute: read it, discard it, then read the value it annotates.
                guard try map(depth: depth) != nil else { return reset(start) }
                result = try value(depth: depth + 1)
            default:
                throw Self.failure("unknown type byte 0x\(String(type, radix: 16)) at offset \(start)")
            }
            if result == nil { position = start }
            return result
        }

        /// Rewinds to `start` and reports that more input is needed.
        mutating func reset(_ start: Int) -> RESPValue? {
            position = start
            return nil
        }

        // MARK: Lines and numbers

        /// The range of a line's payload, moving past its CRLF.
        mutating func line() throws(CacheError) -> Range<Int>? {
            let start = position
            var i = start
            let end = min(bytes.count, start + limits.maxLineLength + 1)
            while i < end {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\r") {
                    guard i + 1 < bytes.count else { return nil }
                    guard bytes[i + 1] == UInt8(ascii: "\n") else { throw Self.failure("CR not followed by LF") }
                    position = i + 2
                    return start..<i
                }
                if byte == UInt8(ascii: "\n") { throw Self.failure("LF without CR") }
                i += 1
            }
            if i - start > limits.maxLineLength { throw Self.failure("line longer than \(limits.maxLineLength) bytes") }
            return nil
        }

        func integer(_ range: Range<Int>) throws(CacheError) -> Int64 {
            do throws(DecimalInteger.Failure) {
                return try DecimalInteger.parse(UnsafeRawBufferPointer(rebasing: bytes[range]))
            } catch {
                switch error {
                case .empty: throw Self.failure("empty integer")
                case .nonDigit: throw Self.failure("non-digit in integer")
                case .overflow: throw Self.failure("integer out of range")
                }
            }
        }

        func double(_ range: Range<Int>) throws(CacheError) -> Double {
            guard !range.isEmpty else { throw Self.failure("empty double") }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            guard let value = Double(text) else { throw Self.failure("malformed double") }
            return value
        }

        func validateBigNumber(_ range: Range<Int>) throws(CacheError) {
            var i = range.lowerBound
            if i < range.upperBound, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
            guard i < range.upperBound else { throw Self.failure("empty big number") }
            while i < range.upperBound {
                guard bytes[i] &- UInt8(ascii: "0") < 10 else { throw Self.failure("non-digit in big number") }
                i += 1
            }
        }

        /// A length header: `-1` when `allowNull`, else `0...limit`.
        mutating func length(limit: Int, allowNull: Bool) throws(CacheError) -> Int?? {
            guard let range = try line() else { return nil }
            if range.count == 1, bytes[range.lowerBound] == UInt8(ascii: "?") {
                throw Self.failure("streamed RESP3 types are not supported")
            }
            let n = try integer(range)
            if n == -1 && allowNull { return .some(nil) }
            guard n >= 0 else { throw Self.failure("negative length \(n)") }
            guard n <= limit else { throw Self.failure("length \(n) above the limit \(limit)") }
            return .some(Int(n))
        }

        // MARK: Strings

        /// The payload range of a `$`, `!` or `=` value; `.some(nil)` for a RESP2 null.
        mutating func bulk(allowNull: Bool) throws(CacheError) -> Range<Int>?? {
            let start = position
            guard let header = try length(limit: limits.maxBulkLength, allowNull: allowNull) else { return nil }
            guard let count = header else { return .some(nil) }
            guard bytes.count - position >= count + 2 else {
                position = start
                return nil
            }
            let range = position..<position + count
            guard bytes[range.upperBound] == UInt8(ascii: "\r"), bytes[range.upperBound + 1] == UInt8(ascii: "\n") else {
                throw Self.failure("bulk string not terminated by CRLF")
            }
            position = range.upperBound + 2
            return .some(range)
        }

        func slice(_ range: Range<Int>) -> ByteBuffer {
            source.getSlice(at: source.readerIndex + range.lowerBound, length: range.count)!
        }

        // MARK: Aggregates

        mutating func aggregate(depth: Int, allowNull: Bool) throws(CacheError) -> [RESPValue]?? {
            guard depth < limits.maxDepth else { throw Self.failure("nesting deeper than \(limits.maxDepth)") }
            guard let header = try length(limit: limits.maxAggregateCount, allowNull: allowNull) else { return nil }
            guard let count = header else { return .some(nil) }
            // Every element takes at least 3 bytes: wait for them before allocating anything.
            guard (bytes.count - position) / 3 >= count else { return nil }
            var elements: [RESPValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                guard let element = try value(depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .some(elements)
        }

        mutating func map(depth: Int) throws(CacheError) -> [RESPMapEntry]? {
            guard depth < limits.maxDepth else { throw Self.failure("nesting deeper than \(limits.maxDepth)") }
            guard let header = try length(limit: limits.maxAggregateCount, allowNull: false), let count = header else { return nil }
            guard (bytes.count - position) / 6 >= count else { return nil }
            var entries: [RESPMapEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                guard let key = try value(depth: depth + 1), let value = try value(depth: depth + 1) else { return nil }
                entries.append(RESPMapEntry(key: key, value: value))
            }
            return entries
        }
    }
}
