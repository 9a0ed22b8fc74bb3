/// Flow collections (`{…}`, `[…]`), which may span lines: how a JSON document is read.
extension PolicyParser {
    /// Skips blanks, line breaks and comments inside a flow collection.
    mutating func skipFlowSpace() {
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
    mutating func parseFlowNode(depth: Int) -> PolicyNode? {
        let startLine = line
        let node = parseFlowValue(depth: depth)
        if node == nil && line != startLine { fatal = true }
        return node
    }

    mutating func parseFlowValue(depth: Int) -> PolicyNode? {
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

    static func shorten(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}
