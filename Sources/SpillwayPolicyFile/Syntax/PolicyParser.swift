/// A strict parser for the policy file's syntax: a small subset of YAML that also reads JSON.
///
/// What it accepts:
/// - block mappings (`key: value`, nested by indentation with spaces);
/// - plain scalars (`256`, `16KiB`, `POST /orders/upload`), single- and double-quoted scalars;
/// - flow mappings and lists (`{limit: 100, period: 1m}`, `[a, b]`), which may span lines, so a
///   JSON document is read as one flow mapping;
/// - `#` comments, one leading `---` and a trailing `...`.
///
/// What it refuses, with an error at the line: tabs in indentation, anchors, aliases, tags, block
/// scalars (`|`, `>`), block lists (`- item`), multi-line plain or quoted scalars, a second
/// document, duplicate keys, `key: value: more`, control characters and invalid UTF-8.
///
/// It never stops at the first problem in block syntax: a bad line is reported and skipped (with
/// the lines nested under it), and parsing goes on. Inside a flow collection that spans lines the
/// first error ends parsing, since nothing after it can be trusted.
public struct PolicyParser {
    /// The deepest nesting accepted (the schema needs 4); deeper input is an error, not a crash.
    public static let maximumDepth = 32

    /// What a parse produced: the root node (when there is one) and every problem found.
    public struct Result: Sendable {
        /// The document's root, or `nil` if the file is empty or unreadable.
        public var root: PolicyNode?
        /// Syntax errors, in file order.
        public var diagnostics: [PolicyDiagnostic]
    }

    /// Parses the bytes of a policy file.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result {
        var parser = PolicyParser(Array(bytes))
        let root = parser.parseDocument()
        return Result(root: root, diagnostics: parser.diagnostics)
    }

    /// Parses the text of a policy file.
    public static func parse(_ text: String) -> Result {
        parse(Array(text.utf8))
    }

    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private var diagnostics: [PolicyDiagnostic] = []
    /// Set when a multi-line flow collection is broken: the rest of the file is not parsed.
    private var fatal = false

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: - Characters

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let hash = UInt8(ascii: "#")
    private static let colon = UInt8(ascii: ":")
    private static let comma = UInt8(ascii: ",")

    private var atEnd: Bool { pos >= bytes.count }
    private var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }
    private func peek(_ offset: Int) -> UInt8? {
        let i = pos + offset
        return i < bytes.count ? bytes[i] : nil
    }
    private var location: SourceLocation { SourceLocation(line: line, column: pos - lineStart + 1) }

    private static func isLineEnd(_ byte: UInt8?) -> Bool {
        byte == nil || byte == newline || byte == carriageReturn
    }
    private static func isBlank(_ byte: UInt8?) -> Bool { byte == space || byte == tab }

    private mutating func error(_ message: String, at location: SourceLocation? = nil) {
        diagnostics.append(PolicyDiagnostic(.error, at: location ?? self.location, message))
    }

    // MARK: - Lines

    /// Checks the encoding first: invalid UTF-8 and control characters are reported once each,
    /// with their line, and make the whole file unparseable.
    private mutating func checkEncoding() -> Bool {
        var ok = true
        var lineNumber = 1
        var start = 0
        var i = 0
        var reportedLines = Set<Int>()
        func report(_ message: String, _ column: Int) {
            guard reportedLines.insert(lineNumber).inserted, reportedLines.count <= 20 else { return }
            diagnostics.append(PolicyDiagnostic(.error, at: SourceLocation(line: lineNumber, column: column), message))
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == Self.newline {
                lineNumber += 1
                start = i + 1
                i += 1
                continue
            }
            if b < 0x20 && b != Self.tab && !(b == Self.carriageReturn && i + 1 < bytes.count && bytes[i + 1] == Self.newline) || b == 0x7F {
                report("control character 0x\(String(b, radix: 16)) is not allowed", i - start + 1)
                ok = false
                i += 1
                continue
            }
            if b < 0x80 {
                i += 1
                continue
            }
            let length: Int
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            var valid = length > 0 && i + length <= bytes.count
            if valid {
                for j in 1..<length where bytes[i + j] & 0xC0 != 0x80 { valid = false }
            }
            if valid && length == 3 {
                let b1 = bytes[i + 1]
                if (b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) { valid = false }
            }
            if valid && length == 4 {
                let b1 = bytes[i + 1]
                if (b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F) { valid = false }
            }
            if !valid {
                report("the file is not valid UTF-8", i - start + 1)
                ok = false
                i += 1
                continue
            }
            i += length
        }
        return ok
    }

    /// Moves to the start of the next line.
    private mutating func skipLine() {
        while let b = current, b != Self.newline { pos += 1 }
        if current == Self.newline {
            pos += 1
            line += 1
            lineStart = pos
        }
    }

    /// From the start of a line: moves to the first line that has content (not blank, not only a
    /// comment) and returns its indentation, leaving `pos` at that line's start. `nil` at the end.
    private mutating func nextContentLine() -> Int? {
        while !atEnd && !fatal {
            var i = pos
            while i < bytes.count && bytes[i] == Self.space { i += 1 }
            let b: UInt8? = i < bytes.count ? bytes[i] : nil
            if b == Self.tab {
                // A tab before any content: blank if the rest is blank, else an indentation error.
                var j = i
                while j < bytes.count && Self.isBlank(bytes[j]) { j += 1 }
                let rest: UInt8? = j < bytes.count ? bytes[j] : nil
                if Self.isLineEnd(rest) || rest == Self.hash {
                    skipLine()
                    continue
                }
                error("tab in indentation; indent with spaces", at: SourceLocation(line: line, column: i - lineStart + 1))
                skipLine()
                continue
            }
            if Self.isLineEnd(b) || b == Self.hash {
                skipLine()
                continue
            }
            return i - pos
        }
        return nil
    }

    /// Skips the rest of the current line and every following line indented more than `indent`
    /// (the lines nested under a line that was reported as bad).
    private mutating func skipLineAndChildren(deeperThan indent: Int) {
        skipLine()
        while let next = nextContentLine(), next > indent { skipLine() }
    }

    /// After a value: only blanks and a comment may follow on the line.
    private mutating func expectLineEnd() {
        while Self.isBlank(current) { pos += 1 }
        if current == Self.hash || Self.isLineEnd(current) {
            skipLine()
            return
        }
        error("unexpected text after the value; quote the value if it contains ': ' or ' #'")
        skipLine()
    }

    // MARK: - Document

    private mutating func parseDocument() -> PolicyNode? {
        guard checkEncoding() else { return nil }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3; lineStart = 3 }
        guard var indent = nextContentLine() else { return nil }
        // One optional `---` document start.
        if indent == 0 && startsWithMarker("---") {
            pos += 3
            while Self.isBlank(current) { pos += 1 }
            if !(current == Self.hash || Self.isLineEnd(current)) {
                error("put the document's content on the line after '---'")
            }
            skipLine()
            guard let next = nextContentLine() else { return nil }
            indent = next
        }
        let root: PolicyNode?
        pos += indent
        switch current {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let startLine = line
            root = parseFlowNode(depth: 0)
            if root != nil {
                expectLineEnd()
            } else if line == startLine {
                skipLine()
            }
        default:
            pos -= indent
            root = parseBlockMapping(indent: indent, depth: 0)
        }
        // Anything left over: a second document, or content outdented below the root.
        if !fatal, let rest = nextContentLine() {
            if rest == 0 && startsWithMarker("...") {
                skipLine()
                if nextContentLine() != nil { error("only one document is allowed in a policy file") }
            } else if rest == 0 && startsWithMarker("---") {
                error("only one document is allowed in a policy file")
            } else {
                error("unexpected content after the end of the document")
            }
        }
        return root
    }

    private func startsWithMarker(_ marker: String) -> Bool {
        let m = Array(marker.utf8)
        guard pos + m.count <= bytes.count, Array(bytes[pos..<(pos + m.count)]) == m else { return false }
        let after: UInt8? = pos + m.count < bytes.count ? bytes[pos + m.count] : nil
        return Self.isLineEnd(after) || Self.isBlank(after)
    }

    // MARK: - Block mappings

    /// Parses the entries of a block mapping whose keys sit at `indent` spaces; stops at the first
    /// line indented less. `pos` is at the start of a line on entry and on return.
    private mutating func parseBlockMapping(indent: Int, depth: Int) -> PolicyNode {
        var entries: [PolicyMappingEntry] = []
        var seen: [String: SourceLocation] = [:]
        var start: SourceLocation?
        while let lineIndent = nextContentLine() {
            if lineIndent < indent { break }
            if lineIndent > indent {
                error("unexpected indentation: expected \(indent) spaces here, found \(lineIndent)", at: SourceLocation(line: line, column: lineIndent + 1))
                skipLineAndChildren(deeperThan: indent)
                continue
            }
            pos += lineIndent
            if start == nil { start = location }
            if lineIndent == 0 && (startsWithMarker("---") || startsWithMarker("...")) {
                break
            }
            if current == UInt8(ascii: "-") && (Self.isBlank(peek(1)) || Self.isLineEnd(peek(1))) {
                error("lists ('- item') are not used in a policy file; write a mapping ('key: value')")
                skipLineAndChildren(deeperThan: indent)
                continue
            }
            guard let entry = parseBlockEntry(indent: indent, depth: depth) else { continue }
            if let first = seen[entry.key] {
                error("duplicate key '\(entry.key)' (first written at line \(first.line))", at: entry.keyLocation)
            } else {
                seen[entry.key] = entry.keyLocation
                entries.append(entry)
            }
        }
        return PolicyNode(.mapping(entries), at: start ?? location)
    }

    /// Parses one `key: value` line (and the block nested under it). `pos` is at the key. Returns
    /// `nil` after reporting an error; `pos` is then at the start of a following line.
    private mutating func parseBlockEntry(indent: Int, depth: Int) -> PolicyMappingEntry? {
        let keyLocation = location
        guard let key = parseKey(flow: false) else {
            skipLineAndChildren(deeperThan: indent)
            return nil
        }
        while Self.isBlank(current) { pos += 1 }
        guard current == Self.colon else {
            error("expected ':' after the key '\(Self.shorten(key))'")
            skipLineAndChildren(deeperThan: indent)
            return nil
        }
        pos += 1
        guard Self.isBlank(current) || Self.isLineEnd(current) else {
            error("expected a space after ':'")
            skipLineAndChildren(deeperThan: indent)
            return nil
        }
        while Self.isBlank(current) { pos += 1 }
        if current == Self.hash || Self.isLineEnd(current) {
            // The value is the block nested under this line, or null.
            let nullAt = location
            skipLine()
            if let childIndent = nextContentLine(), childIndent > indent {
                if depth + 1 >= Self.maximumDepth {
                    error("nesting deeper than \(Self.maximumDepth) levels")
                    skipLineAndChildren(deeperThan: indent)
                    return nil
                }
                let value = parseBlockMapping(indent: childIndent, depth: depth + 1)
                return PolicyMappingEntry(key: key, keyLocation: keyLocation, value: value)
            }
            return PolicyMappingEntry(key: key, keyLocation: keyLocation, value: PolicyNode(.scalar("", .plain), at: nullAt))
        }
        let startLine = line
        guard let value = parseInlineValue(depth: depth + 1) else {
            if line == startLine { skipLineAndChildren(deeperThan: indent) }
            return nil
        }
        expectLineEnd()
        return PolicyMappingEntry(key: key, keyLocation: keyLocation, value: value)
    }

    /// A value on the same line as its key: a flow collection, a quoted or a plain scalar.
    private mutating func parseInlineValue(depth: Int) -> PolicyNode? {
        let at = location
        switch current {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            return parseFlowNode(depth: depth)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            guard let text = parseQuoted() else { return nil }
            return PolicyNode(.scalar(text, .quoted), at: at)
        default:
            guard checkPlainStart() else { return nil }
            var end = pos
            var i = pos
            while i < bytes.count, !Self.isLineEnd(bytes[i]) {
                if bytes[i] == Self.hash && Self.isBlank(bytes[i - 1]) { break }
                if bytes[i] == Self.colon, i + 1 < bytes.count, Self.isBlank(bytes[i + 1]) {
                    pos = i
                    error("a plain value cannot contain ': '; quote it")
                    return nil
                }
                if !Self.isBlank(bytes[i]) { end = i + 1 }
                i += 1
            }
            let text = String(decoding: bytes[pos..<end], as: UTF8.self)
            pos = end
            return PolicyNode(.scalar(text, .plain), at: at)
        }
    }

    /// Reports YAML features the format leaves out, when a plain scalar would start with one.
    private mutating func checkPlainStart() -> Bool {
        switch current {
        case UInt8(ascii: "&"), UInt8(ascii: "*"):
            error("anchors and aliases ('&', '*') are not supported in a policy file")
        case UInt8(ascii: "!"):
            error("tags ('!') are not supported in a policy file")
        case UInt8(ascii: "|"), UInt8(ascii: ">"):
            error("block scalars ('|', '>') are not supported in a policy file")
        case UInt8(ascii: "%"), UInt8(ascii: "@"), UInt8(ascii: "`"):
            error("a plain value cannot start with '\(Character(Unicode.Scalar(current!)))'; quote it")
        case UInt8(ascii: "}"), UInt8(ascii: "]"), Self.comma:
            error("unexpected '\(Character(Unicode.Scalar(current!)))'")
        default:
            return true
        }
        return false
    }

    /// A key: quoted, or plain up to the `:` that ends it. In flow context a plain key also ends at
    /// `,`, `{`, `}`, `[`, `]`.
    private mutating func parseKey(flow: Bool) -> String? {
        if current == UInt8(ascii: "\"") || current == UInt8(ascii: "'") {
            return parseQuoted()
        }
        guard checkPlainStart() else { return nil }
        if current == UInt8(ascii: "{") || current == UInt8(ascii: "[") {
            error("a key must be a plain or quoted string")
            return nil
        }
        let start = pos
        var end = pos
        while let b = current, !Self.isLineEnd(b) {
            if b == Self.colon && (Self.isBlank(peek(1)) || Self.isLineEnd(peek(1)) || (flow && Self.isFlowIndicator(peek(1)))) { break }
            if b == Self.hash && pos > start && Self.isBlank(bytes[pos - 1]) { break }
            if flow && Self.isFlowIndicator(b) { break }
            pos += 1
            if !Self.isBlank(b) { end = pos }
        }
        if end == start {
            error("expected a key")
            return nil
        }
        pos = end
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    private static func isFlowIndicator(_ byte: UInt8?) -> Bool {
        switch byte {
        case UInt8(ascii: ","), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"): return true
        default: return false
        }
    }

    // MARK: - Quoted scalars

    /// A single- or double-quoted scalar on one line. `pos` is at the opening quote.
    private mutating func parseQuoted() -> String? {
        let open = location
        let quote = bytes[pos]
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let b = current, !Self.isLineEnd(b) else {
                error("unterminated string: a quoted value must end on the line it starts", at: open)
                return nil
            }
            if b == quote {
                if quote == UInt8(ascii: "'") && peek(1) == quote {
                    out.append(quote)
                    pos += 2
                    continue
                }
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if quote == UInt8(ascii: "\"") && b == UInt8(ascii: "\\") {
                guard let scalar = parseEscape() else { return nil }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
                continue
            }
            out.append(b)
            pos += 1
        }
    }

    /// One escape sequence in a double-quoted scalar. `pos` is at the backslash.
    private mutating func parseEscape() -> Unicode.Scalar? {
        let at = location
        pos += 1
        guard let e = current, !Self.isLineEnd(e) else {
            error("unterminated escape sequence", at: at)
            return nil
        }
        pos += 1
        switch e {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "0"): return "\0"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: " "): return " "
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let d = current, let v = Self.hexValue(d) else {
                    error("expected \(digits) hex digits after '\\\(Character(Unicode.Scalar(e)))'", at: at)
                    return nil
                }
                value = value << 4 | UInt32(v)
                pos += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                error("'\\\(Character(Unicode.Scalar(e)))' escape is not a Unicode scalar value (a surrogate?)", at: at)
                return nil
            }
            return scalar
        default:
            error("unknown escape sequence '\\\(Character(Unicode.Scalar(e)))'", at: at)
            return nil
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: - Flow collections

    /// Skips blanks, line breaks and comments inside a flow collection.
    private mutating func skipFlowSpace() {
        while let b = current {
            if Self.isBlank(b) || b == Self.carriageReturn {
                pos += 1
            } else if b == Self.newline {
                pos += 1
                line += 1
                lineStart = pos
            } else if b == Self.hash && (pos == lineStart || Self.isBlank(bytes[pos - 1]) || bytes[pos - 1] == Self.newline) {
                while let c = current, c != Self.newline { pos += 1 }
            } else {
                return
            }
        }
    }

    /// A flow mapping or list, or a scalar inside one. Returns `nil` after reporting an error; if
    /// the error is not on the collection's first line, parsing of the file stops.
    private mutating func parseFlowNode(depth: Int) -> PolicyNode? {
        let startLine = line
        let node = parseFlowValue(depth: depth)
        if node == nil && line != startLine { fatal = true }
        return node
    }

    private mutating func parseFlowValue(depth: Int) -> PolicyNode? {
        guard depth < Self.maximumDepth else {
            error("nesting deeper than \(Self.maximumDepth) levels")
            return nil
        }
        let at = location
        switch current {
        case UInt8(ascii: "{"):
            pos += 1
            var entries: [PolicyMappingEntry] = []
            var seen: [String: SourceLocation] = [:]
            skipFlowSpace()
            if current == UInt8(ascii: "}") {
                pos += 1
                return PolicyNode(.mapping([]), at: at)
            }
            while true {
                skipFlowSpace()
                let keyAt = location
                guard !atEnd else {
                    error("unterminated '{' (opened at line \(at.line))")
                    return nil
                }
                guard let key = parseKey(flow: true) else { return nil }
                skipFlowSpace()
                guard current == Self.colon else {
                    error("expected ':' after the key '\(Self.shorten(key))'")
                    return nil
                }
                pos += 1
                skipFlowSpace()
                let value: PolicyNode
                if current == Self.comma || current == UInt8(ascii: "}") {
                    value = PolicyNode(.scalar("", .plain), at: location)
                } else {
                    guard let v = parseFlowValue(depth: depth + 1) else { return nil }
                    value = v
                }
                if let first = seen[key] {
                    error("duplicate key '\(Self.shorten(key))' (first written at line \(first.line))", at: keyAt)
                } else {
                    seen[key] = keyAt
                    entries.append(PolicyMappingEntry(key: key, keyLocation: keyAt, value: value))
                }
                skipFlowSpace()
                if current == Self.comma {
                    pos += 1
                    skipFlowSpace()
                    if current == UInt8(ascii: "}") {
                        pos += 1
                        return PolicyNode(.mapping(entries), at: at)
                    }
                    continue
                }
                if current == UInt8(ascii: "}") {
                    pos += 1
                    return PolicyNode(.mapping(entries), at: at)
                }
                error(atEnd ? "unterminated '{' (opened at line \(at.line))" : "expected ',' or '}'")
                return nil
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [PolicyNode] = []
            skipFlowSpace()
            if current == UInt8(ascii: "]") {
                pos += 1
                return PolicyNode(.list([]), at: at)
            }
            while true {
                skipFlowSpace()
                guard !atEnd else {
                    error("unterminated '[' (opened at line \(at.line))")
                    return nil
                }
                guard let item = parseFlowValue(depth: depth + 1) else { return nil }
                items.append(item)
                skipFlowSpace()
                if current == Self.comma {
                    pos += 1
                    skipFlowSpace()
                    if current == UInt8(ascii: "]") {
                        pos += 1
                        return PolicyNode(.list(items), at: at)
                    }
                    continue
                }
                if current == UInt8(ascii: "]") {
                    pos += 1
                    return PolicyNode(.list(items), at: at)
                }
                error(atEnd ? "unterminated '[' (opened at line \(at.line))" : "expected ',' or ']'")
                return nil
            }
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            guard let text = parseQuoted() else { return nil }
            return PolicyNode(.scalar(text, .quoted), at: at)
        case nil:
            error("expected a value")
            return nil
        default:
            guard checkPlainStart() else { return nil }
            let start = pos
            var end = pos
            while let b = current, !Self.isLineEnd(b), !Self.isFlowIndicator(b) {
                if b == Self.colon && (Self.isBlank(peek(1)) || Self.isLineEnd(peek(1)) || Self.isFlowIndicator(peek(1))) { break }
                if b == Self.hash && pos > start && Self.isBlank(bytes[pos - 1]) { break }
                pos += 1
                if !Self.isBlank(b) { end = pos }
            }
            pos = end
            if end == start {
                error("expected a value")
                return nil
            }
            return PolicyNode(.scalar(String(decoding: bytes[start..<end], as: UTF8.self), .plain), at: at)
        }
    }

    private static func shorten(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}
