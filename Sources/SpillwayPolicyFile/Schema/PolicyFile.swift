public import Spillway

/// The content of a valid policy file: defaults, route overrides and prefix overrides.
///
/// Get one from ``check(_:)`` (every diagnostic, for tools), ``parse(_:file:)`` (throws when the
/// file is invalid) or ``PolicyFileLoader`` (reads a path). ``table`` is the ``PolicyTable`` that
/// the cache uses.
public struct PolicyFile: Sendable, Hashable {
    /// The defaults: the built-in ``CachePolicy`` defaults with the file's `defaults` applied.
    public var defaults: CachePolicy
    /// Overrides by route (`POST /orders/upload`) or job (`job:resize`).
    public var routes: [String: PolicyOverrides]
    /// Overrides by key prefix.
    public var prefixes: [String: PolicyOverrides]
    /// The file's top-level `requireSecret` (see ``Spillway/PolicyTable/requireSecret``).
    public var requireSecret: Bool

    /// Creates the content of a policy file.
    public init(
        defaults: CachePolicy = CachePolicy(), routes: [String: PolicyOverrides] = [:], prefixes: [String: PolicyOverrides] = [:],
        requireSecret: Bool = false
    ) {
        self.defaults = defaults
        self.routes = routes
        self.prefixes = prefixes
        self.requireSecret = requireSecret
    }

    /// The policy table the cache resolves from.
    public var table: PolicyTable {
        PolicyTable(defaults: defaults, routes: routes, prefixes: prefixes, requireSecret: requireSecret)
    }

    /// Parses and validates a policy file's bytes, collecting every error and warning.
    public static func check(_ bytes: some Collection<UInt8>) -> PolicyCheckResult {
        let syntax = PolicyParser.parse(bytes)
        var decoder = PolicyFileDecoder()
        let file = decoder.decode(syntax.root, syntaxErrors: !syntax.diagnostics.isEmpty)
        let diagnostics = (syntax.diagnostics + decoder.diagnostics).sorted()
        let valid = !diagnostics.contains { $0.severity == .error }
        return PolicyCheckResult(file: valid ? file : nil, diagnostics: diagnostics)
    }

    /// Parses and validates a policy file's text.
    /// - Parameters:
    ///   - text: the file's content.
    ///   - file: the name to show in errors.
    /// - Throws: ``PolicyFileError`` with every error, when the file is invalid.
    public static func parse(_ text: String, file: String = "spillway.yml") throws(PolicyFileError) -> PolicyFile {
        let result = check(Array(text.utf8))
        guard let policies = result.file else { throw PolicyFileError(path: file, diagnostics: result.diagnostics) }
        return policies
    }
}

/// What checking a policy file found.
public struct PolicyCheckResult: Sendable {
    /// The policies, when the file has no errors (it may have warnings).
    public var file: PolicyFile?
    /// Every error and warning, in file order.
    public var diagnostics: [PolicyDiagnostic]

    /// Only the errors.
    public var errors: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .error } }
    /// Only the warnings.
    public var warnings: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// A policy file that could not be loaded: every problem in it, each at its line.
public struct PolicyFileError: Error, Sendable, CustomStringConvertible {
    /// The file, as named in messages.
    public var path: String
    /// Every diagnostic (errors and warnings), in file order.
    public var diagnostics: [PolicyDiagnostic]

    /// Creates an error.
    public init(path: String, diagnostics: [PolicyDiagnostic]) {
        self.path = path
        self.diagnostics = diagnostics
    }

    /// One `file:line: error: message` line per diagnostic.
    public var description: String {
        diagnostics.map { $0.rendered(file: path) }.joined(separator: "\n")
    }
}
