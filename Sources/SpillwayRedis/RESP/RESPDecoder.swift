public import NIOCore
public import Spillway

/// An incremental RESP3 decoder (RESP2 is a subset), safe on any input, that keeps its place
/// between reads.
///
/// ``decode(_:)`` takes one complete value off the front of a buffer, or returns `nil` when more
/// bytes are needed. An aggregate (array, set, map, push) that has only partly arrived is not
/// parsed again from its start on the next call: the decoder keeps the elements it has read so
/// far, moves the buffer's reader index past them, and carries on from there when the next bytes
/// are appended to the same buffer. Decoding a reply therefore costs time linear in its size,
/// however many reads it arrives in. A scalar (a line, a bulk string) is taken whole or not at
/// all: a partial one stays in the buffer, untouched.
///
/// Bytes that do not follow the protocol throw `CacheError(.protocolError)`; lengths, nesting and
/// line lengths are bounded by ``Limits``, and so is the memory one reply may take
/// (``Limits/maxReplyBytes``, `CacheError(.tooLarge)`), so a hostile or broken peer can neither
/// crash the decoder nor make it allocate without bound. After a throw the decoder has dropped
/// the reply in progress; the stream it came from is no longer in step and should be closed.
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
        /// The most one reply may cost, in bytes: its bytes on the wire plus
        /// ``elementOverhead`` for every value inside an aggregate (what the decoded elements
        /// take in memory). Default 512 MiB, in the spirit of Redis's `proto-max-bulk-len`. A
        /// reply that would go past it, or whose declared sizes show that it will, fails with
        /// `CacheError(.tooLarge)` as soon as that is known, before its bytes are buffered; the
        /// connection is then closed.
        public var maxReplyBytes: Int

        /// What one element of an aggregate is counted at against ``maxReplyBytes`` on top of
        /// its wire bytes: the size of a decoded ``RESPValue`` (24 bytes on 64-bit platforms).
        /// Four million nulls (12 MB on the wire) thus count as about 108 MB.
        public static var elementOverhead: Int { MemoryLayout<RESPValue>.stride }

        /// Creates limits.
        public init(
            maxDepth: Int = 32, maxBulkLength: Int = 512 * 1024 * 1024, maxAggregateCount: Int = 1 << 24,
            maxLineLength: Int = 64 * 1024, maxReplyBytes: Int = 512 * 1024 * 1024
        ) {
            self.maxDepth = maxDepth
            self.maxBulkLength = maxBulkLength
            self.maxAggregateCount = maxAggregateCount
            self.maxLineLength = maxLineLength
            self.maxReplyBytes = maxReplyBytes
        }
    }

    /// The bounds in force.
    public var limits: Limits

    /// The aggregates of the reply in progress that are still open, outermost first.
    private var open: [Frame] = []
    /// What the reply in progress has cost so far (see ``Limits/maxReplyBytes``).
    private var replyCost = 0

    /// Creates a decoder.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether the decoder holds part of a reply (the elements of an aggregate that has not fully
    /// arrived).
    public var isInsideReply: Bool { !open.isEmpty || replyCost > 0 }

    /// Drops the reply in progress, if any (after the stream it came from was reset).
    public mutating func reset() {
        open = []
        replyCost = 0
    }

    /// Decodes one value from the front of `buffer`.
    /// - Returns: the value, with `buffer`'s reader index moved past it; or `nil` when `buffer`
    ///   holds only part of a value. The reader index may then have moved past the elements of a
    ///   partial aggregate, which the decoder keeps: append the following bytes to `buffer` and
    ///   call again.
    /// - Throws: `CacheError(.protocolError)` when the bytes cannot be RESP,
    ///   `CacheError(.tooLarge)` when the reply costs more than ``Limits/maxReplyBytes``.
    public mutating func decode(_ buffer: inout ByteBuffer) throws(CacheError) -> RESPValue? {
        var values: [RESPValue] = []
        var single: RESPValue?
        _ = try run(&buffer, maxCount: 1, into: &values, single: &single, one: true)
        return single
    }

    /// Decodes up to `maxCount` complete values from the front of `buffer` in one pass (a
    /// pipeline's replies), appending them to `values`.
    /// - Returns: how many values were appended; `buffer`'s reader index is moved past them (and
    ///   past the consumed part of a partial aggregate, as in ``decode(_:)``).
    /// - Throws: as ``decode(_:)``.
    public mutating func decode(_ buffer: inout ByteBuffer, maxCount: Int, into values: inout [RESPValue]) throws(CacheError) -> Int {
        var unused: RESPValue?
        return try run(&buffer, maxCount: maxCount, into: &values, single: &unused, one: false)
    }

    /// Decodes up to `maxCount` values: into `single` when `one` (no array traffic for the
    /// common one-reply case), else appended to `values`.
    private mutating func run(
        _ buffer: inout ByteBuffer, maxCount: Int, into values: inout [RESPValue], single: inout RESPValue?, one: Bool
    ) throws(CacheError) -> Int {
        let source = buffer
        let limits = self.limits
        // The parser takes the open aggregates over (moved, not shared, so that appending to
        // them never copies) and hands them back.
        var frames: [Frame] = []
        swap(&frames, &self.open)
        var cost = self.replyCost
        let result: Result<(count: Int, consumed: Int), CacheError> = source.withUnsafeReadableBytes { bytes in
            var parser = Parser(bytes: bytes, source: source, limits: limits, open: [], cost: cost)
            swap(&parser.open, &frames)
            var count = 0
            do throws(CacheError) {
                while count < maxCount, let value = try parser.next() {
                    if one { single = value } else { values.append(value) }
                    count += 1
                }
            } catch {
                return .failure(error)
            }
            swap(&parser.open, &frames)
            cost = parser.cost
            return .success((count, parser.position))
        }
        switch result {
        case .success(let (count, consumed)):
            swap(&frames, &self.open)
            self.replyCost = cost
            buffer.moveReaderIndex(forwardBy: consumed)
            return count
        case .failure(let error):
            reset()
            throw error
        }
    }
}

extension RESPDecoder {
    /// An aggregate whose elements are still arriving.
    struct Frame: Sendable {
        enum Kind: Sendable { case array, set, push, map, attribute }
        var kind: Kind
        /// Values still to read (for a map or an attribute: keys and values).
        var remaining: Int
        /// The elements so far (array, set, push).
        var elements: [RESPValue] = []
        /// The entries so far (map).
        var entries: [RESPMapEntry] = []
        /// A map entry's key, waiting for its value.
        var key: RESPValue?

        /// Adds one element.
        mutating func add(_ value: RESPValue) {
            remaining -= 1
            switch kind {
            case .array, .set, .push:
                if elements.count == elements.capacity { Self.grow(&elements, toHold: elements.count + 1 + remaining) }
                elements.append(value)
            case .map:
                if let pending = key {
                    if entries.count == entries.capacity { Self.grow(&entries, toHold: entries.count + 1 + remaining / 2) }
                    entries.append(RESPMapEntry(key: pending, value: value))
                    key = nil
                } else {
                    key = value
                }
            case .attribute: break  // read and discarded
            }
        }

        /// Grows a full array: to the `total` its header declared once a quarter of it has
        /// arrived, else by doubling, never past `total` (the finished reply holds no spare
        /// capacity: a 400,000-element array would otherwise grow to 699,040 slots).
        ///
        /// Every step is bounded by the elements already received (at most four times as many
        /// slots), so a header alone still reserves nothing it has not been sent, and the
        /// declared total was checked against ``Limits/maxReplyBytes`` when the header arrived.
        /// Jumping to the total saves the last doublings: half the copies, and half the transient
        /// arrays, which glibc would otherwise hand back to the kernel after a big reply and
        /// fault in again for the next one (a 400,000-element reply cost 2.5–3.3 times a
        /// 200,000-element one in wall clock, for 1.97 times the instructions).
        static func grow<Element>(_ array: inout [Element], toHold total: Int) {
            let count = array.count
            let target = count >= total / 4 ? total : min(total, max(2 * array.capacity, 16))
            array.reserveCapacity(target)
        }

        /// The finished value; `nil` for an attribute (it annotates the value that follows).
        func finished() -> RESPValue? {
            switch kind {
            case .array: .array(elements)
            case .set: .set(elements)
            case .push: .push(elements)
            case .map: .map(entries)
            case .attribute: nil
            }
        }
    }

    /// One pass over the readable bytes, resuming the aggregates left open by the last pass.
    struct Parser {
        let bytes: UnsafeRawBufferPointer
        let source: ByteBuffer
        let limits: Limits
        var open: [Frame]
        var cost: Int
        /// The end of what has been consumed (committed to `open` or returned).
        var position = 0

        init(bytes: UnsafeRawBufferPointer, source: ByteBuffer, limits: Limits, open: [Frame], cost: Int) {
            self.bytes = bytes
            self.source = source
            self.limits = limits
            self.open = open
            self.cost = cost
        }

        static func failure(_ message: String) -> CacheError {
            CacheError(.protocolError, "invalid RESP: \(message)")
        }

        /// One piece of a value read off the wire.
        enum Item {
            /// A complete scalar.
            case value(RESPValue)
            /// The header of an aggregate whose elements follow.
            case aggregate(Frame.Kind, count: Int)
        }

        /// The next complete top-level value, or `nil` when the bytes run out (everything complete
        /// so far is kept in `open`).
        mutating func next() throws(CacheError) -> RESPValue? {
            while true {
                // Close every aggregate that has all its elements (read in place: a copy of the
                // frame would retain its element array on every element).
                if !open.isEmpty, open[open.count - 1].remaining == 0 {
                    let frame = open.removeLast()
                    guard let value = frame.finished() else { continue }  // an attribute
                    if let top = try deliver(value) { return top }
                    continue
                }
                let start = position
                guard let item = try item() else {
                    position = start
                    return nil
                }
                try charge(position - start)
                switch item {
                case .value(let value):
                    if let top = try deliver(value) { return top }
                case .aggregate(let kind, let count):
                    guard open.count < limits.maxDepth else { throw Self.failure("nesting deeper than \(limits.maxDepth)") }
                    let values = kind == .map || kind == .attribute ? 2 * count : count
                    // Every element takes at least 3 bytes and one element's overhead: refuse at
                    // once what cannot fit.
                    if values > (limits.maxReplyBytes - cost) / (3 + Limits.elementOverhead) {
                        throw Self.tooLarge(limits)
                    }
                    if values == 0, let value = Frame(kind: kind, remaining: 0).finished() {
                        if let top = try deliver(value) { return top }
                        continue
                    }
                    var frame = Frame(kind: kind, remaining: values)
                    // Reserve for what can be in the bytes at hand, not what the header claims.
                    let room = min(count, (bytes.count - position) / 3 + 1)
                    switch kind {
                    case .array, .set, .push: frame.elements.reserveCapacity(room)
                    case .map: frame.entries.reserveCapacity(room)
                    case .attribute: break
                    }
                    open.append(frame)
                }
            }
        }

        /// Hands a finished value to the innermost open aggregate; returns it when there is
        /// none (it is a whole reply).
        mutating func deliver(_ value: RESPValue) throws(CacheError) -> RESPValue? {
            guard !open.isEmpty else {
                cost = 0
                return value
            }
            try charge(Limits.elementOverhead)
            open[open.count - 1].add(value)
            return nil
        }

        mutating func charge(_ bytes: Int) throws(CacheError) {
            cost += bytes
            if cost > limits.maxReplyBytes { throw Self.tooLarge(limits) }
        }

        static func tooLarge(_ limits: Limits) -> CacheError {
            CacheError(.tooLarge, "Redis reply larger than maxReplyBytes (\(limits.maxReplyBytes) bytes)")
        }

        /// Reads one scalar or aggregate header at `position`; `nil` when the bytes run out.
        mutating func item() throws(CacheError) -> Item? {
            guard position < bytes.count else { return nil }
            let start = position
            let type = bytes[position]
            position += 1
            switch type {
            case UInt8(ascii: "+"):
                guard let range = try line() else { return nil }
                return .value(.simpleString(slice(range)))
            case UInt8(ascii: "-"):
                guard let range = try line() else { return nil }
                return .value(.error(slice(range)))
            case UInt8(ascii: ":"):
                guard let range = try line() else { return nil }
                return .value(.integer(try integer(range)))
            case UInt8(ascii: "$"):
                guard let range = try bulk(allowNull: true) else { return nil }
                if let range { return .value(.bulkString(slice(range))) }
                return .value(.null)
            case UInt8(ascii: "!"):
                guard let range = try bulk(allowNull: false), let range else { return nil }
                return .value(.error(slice(range)))
            case UInt8(ascii: "="):
                guard let range = try bulk(allowNull: false), let range else { return nil }
                guard range.count >= 4, bytes[range.lowerBound + 3] == UInt8(ascii: ":") else {
                    throw Self.failure("verbatim string without a format prefix")
                }
                return .value(.verbatimString(format: slice(range.lowerBound..<range.lowerBound + 3), slice(range.lowerBound + 4..<range.upperBound)))
            case UInt8(ascii: "_"):
                guard let range = try line() else { return nil }
                guard range.isEmpty else { throw Self.failure("null with a payload") }
                return .value(.null)
            case UInt8(ascii: ","):
                guard let range = try line() else { return nil }
                return .value(.double(try double(range)))
            case UInt8(ascii: "#"):
                guard let range = try line() else { return nil }
                guard range.count == 1 else { throw Self.failure("boolean is not t or f") }
                switch bytes[range.lowerBound] {
                case UInt8(ascii: "t"): return .value(.boolean(true))
                case UInt8(ascii: "f"): return .value(.boolean(false))
                default: throw Self.failure("boolean is not t or f")
                }
            case UInt8(ascii: "("):
                guard let range = try line() else { return nil }
                try validateBigNumber(range)
                return .value(.bigNumber(slice(range)))
            case UInt8(ascii: "*"):
                guard let header = try length(limit: limits.maxAggregateCount, allowNull: true) else { return nil }
                guard let count = header else { return .value(.null) }
                return .aggregate(.array, count: count)
            case UInt8(ascii: "~"):
                guard let header = try length(limit: limits.maxAggregateCount, allowNull: false), let count = header else { return nil }
                return .aggregate(.set, count: count)
            case UInt8(ascii: ">"):
                guard let header = try length(limit: limits.maxAggregateCount, allowNull: false), let count = header else { return nil }
                return .aggregate(.push, count: count)
            case UInt8(ascii: "%"):
                guard let header = try length(limit: limits.maxAggregateCount, allowNull: false), let count = header else { return nil }
                return .aggregate(.map, count: count)
            case UInt8(ascii: "|"):
                guard let header = try length(limit: limits.maxAggregateCount, allowNull: false), let count = header else { return nil }
                return .aggregate(.attribute, count: count)
            default:
                throw Self.failure("unknown type byte 0x\(String(type, radix: 16)) at offset \(start)")
            }
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
            let headerStart = position - 1
            guard let header = try length(limit: limits.maxBulkLength, allowNull: allowNull) else { return nil }
            guard let count = header else { return .some(nil) }
            // Refuse a string that cannot fit before waiting for (and buffering) its bytes.
            if count > limits.maxReplyBytes - cost - (position - headerStart) - 2 { throw Self.tooLarge(limits) }
            guard bytes.count - position >= count + 2 else { return nil }
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
    }
}
