/// One problem found in a policy file, at a line.
public struct PolicyDiagnostic: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// How serious the problem is.
    public enum Severity: String, Sendable, Hashable {
        /// The file is invalid; it is not loaded and the build fails.
        case error
        /// The file is valid, but something in it is probably a mistake.
        case warning
    }

    /// Where the problem is.
    public var location: SourceLocation
    /// Whether it is an error or a warning.
    public var severity: Severity
    /// What is wrong and, where possible, how to fix it.
    public var message: String

    /// Creates a diagnostic.
    public init(_ severity: Severity = .error, at location: SourceLocation, _ message: String) {
        self.location = location
        self.severity = severity
        self.message = message
    }

    /// The line of the problem.
    public var line: Int { location.line }

    /// The compiler-style text `file:line: error: message`, which SwiftPM, Xcode and editors
    /// recognise as a diagnostic.
    public func rendered(file: String) -> String {
        "\(file):\(location.line): \(severity.rawValue): \(message)"
    }

    public var description: String { "\(location.line): \(severity.rawValue): \(message)" }

    public static func < (a: PolicyDiagnostic, b: PolicyDiagnostic) -> Bool {
        if a.location != b.location { return a.location < b.location }
        return a.message < b.message
    }
}
