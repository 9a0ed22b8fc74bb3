import Foundation

/// Writes lines to stderr: diagnostics and progress, kept apart from a command's output.
enum StandardError {
    /// Writes `line` and a newline to stderr.
    static func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
