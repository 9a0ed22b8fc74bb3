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
///
/// The parser is split by concern: this file holds the state, lines and the document;
/// `PolicyParser+Encoding`, `+BlockMapping`, `+Quoted` and `+Flow` hold the rest.
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

    let bytes: [UInt8]
    var pos = 0
    var line = 1
    var lineStart = 0
    var diagnostics: [PolicyDiagnostic] = []
    /// Set when a multi-line flow collection is broken: the rest of the file is not parsed.
    var fatal = false

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: - Characters

    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let hash = UInt8(ascii: "#")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")

    var atEnd: Bool { pos >= bytes.count }
    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }
    func peek(_ offset: Int) -> UInt8? {
        let i = pos + offset
        return i < bytes.count ? bytes[i] : nil
    }
    var location: SourceLocation { SourceLocation(line: line, column: pos - lineStart + 1) }

    static func isLineEnd(_ byte: UInt8?) -> Bool {
        byte == nil || byte == newline || byte == carriageReturn
    }
    static func isBlank(_ byte: UInt8?) -> Bool { byte == space || byte == tab }

    mutating func error(_ message: String, at location: SourceLocation? = nil) {
        diagnostics.append(PolicyDiagnostic(.error, at: location ?? self.location, message))
    }

    // MARK: - Lines

    /// Moves to the start of the next line.
    mutating func skipLine() {
        while let b = current, b != Self.newline { pos += 1 }
        if current == Self.newline {
            pos += 1
            line += 1
            lineStart = pos
        }
    }

    /// From the start of a line: moves to the first line that has content (not blank, not only a
    /// comment) and returns its indentation, leaving `pos` at that line's start. `nil` at the end.
    mutating func nextContentLine() -> Int? {
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
    mutating func skipLineAndChildren(deeperThan indent: Int) {
        skipLine()
        while let next = nextContentLine(), next > indent { skipLine() }
    }

    /// After a value: only blanks and a comment may follow on the line.
    mutating func expectLineEnd() {
        while Self.isBlank(current) { pos += 1 }
        if current == Self.hash || Self.isLineEnd(current) {
            skipLine()
            return
        }
        error("unexpected text after the value; quote the value if it contains ': ' or ' #'")
        skipLine()
    }

    // MARK: - Document

    mutating func parseDocument() -> PolicyNode? {
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

    func startsWithMarker(_ marker: String) -> Bool {
        let m = Array(marker.utf8)
        guard pos + m.count <= bytes.count, Array(bytes[pos..<(pos + m.count)]) == m else { return false }
        let after: UInt8? = pos + m.count < bytes.count ? bytes[pos + m.count] : nil
        return Self.isLineEnd(after) || Self.isBlank(after)
    }
}
