/// The encoding check that runs before parsing: UTF-8 validity and control characters.
extension PolicyParser {
    /// Checks the encoding first: invalid UTF-8 and control characters are reported once each,
    /// with their line, and make the whole file unparseable.
    mutating func checkEncoding() -> Bool {
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
}
