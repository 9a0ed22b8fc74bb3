/// Block syntax: indented `key: value` mappings, the values on a key's line, and keys.
extension PolicyParser {
    /// Parses the entries of a block mapping whose keys sit at `indent` spaces; stops at the first
    /// line indented less. `pos` is at the start of a line on entry and on return.
    mutating func parseBlockMapping(indent: Int, depth: Int) -> PolicyNode {
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
    mutating func parseBlockEntry(indent: Int, depth: Int) -> PolicyMappingEntry? {
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
    mutating func parseInlineValue(depth: Int) -> PolicyNode? {
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
    mutating func checkPlainStart() -> Bool {
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
    mutating func parseKey(flow: Bool) -> String? {
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

    static func isFlowIndicator(_ byte: UInt8?) -> Bool {
        switch byte {
        case UInt8(ascii: ","), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"): return true
        default: return false
        }
    }

}
