#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Loads a policy file at run time, with exactly the validation the build plugin and
/// `spillway check-policies` apply.
public enum PolicyFileLoader {
    /// The file names the build plugin and the audit look for, in order of preference.
    public static let fileNames = ["spillway.yml", "spillway.yaml", "spillway.json"]

    /// Reads and validates the policy file at `path`.
    /// - Throws: ``PolicyFileError`` with every error (each `file:line: error: message`), or with
    ///   one error at line 1 when the file cannot be read.
    public static func load(path: String) throws(PolicyFileError) -> PolicyFile {
        let result = try check(path: path)
        guard let file = result.file else { throw PolicyFileError(path: path, diagnostics: result.diagnostics) }
        return file
    }

    /// Reads and checks the policy file at `path`, returning every diagnostic.
    /// - Throws: ``PolicyFileError`` only when the file cannot be read.
    public static func check(path: String) throws(PolicyFileError) -> PolicyCheckResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyFileError(
                path: path,
                diagnostics: [
                    PolicyDiagnostic(.error, at: SourceLocation(line: 1, column: 1), "cannot read the policy file")
                ])
        }
        return PolicyFile.check(data)
    }
}
