/// Single- and double-quoted scalars and their escape sequences.
extension PolicyParser {
    /// A single- or double-quoted scalar on one line. `pos` is at the opening quote.
    mutating func parseQuoted() -> String? {
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
    mutating func parseEscape() -> Unicode.Scalar? {
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

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

}
