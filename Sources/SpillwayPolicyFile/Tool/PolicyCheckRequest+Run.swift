#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PolicyCheckRequest {
    /// Checks ``file`` and, when it is valid and ``emitSwift`` is set, writes the generated Swift.
    ///
    /// Every diagnostic goes to `standardError` as `file:line: error: message`, followed by a
    /// count of errors and warnings when the check fails. Unless ``quiet``, a valid file prints
    /// `FILE: OK: N routes, M prefixes` to `standardOutput`. Never throws: every failure is a
    /// message and an exit status.
    /// - Returns: the exit status: 0 when the file is valid (and, with ``warningsAsErrors``, has
    ///   no warnings) and the Swift was written; 1 otherwise.
    package func run(standardOutput: (String) -> Void, standardError: (String) -> Void) -> Int32 {
        let result: PolicyCheckResult
        do {
            result = try PolicyFileLoader.check(path: file)
        } catch {
            standardError(error.description)
            return 1
        }
        for diagnostic in result.diagnostics {
            standardError(diagnostic.rendered(file: file))
        }
        let errors = result.errors.count
        let warnings = result.warnings.count
        guard let policies = result.file, !(warningsAsErrors && warnings > 0) else {
            standardError("\(file): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
            return 1
        }
        if let emitSwift {
            let name = URL(fileURLWithPath: file).lastPathComponent
            let source = PolicySwiftEmitter.swiftSource(for: policies, sourceName: name, typeName: typeName)
            do {
                try Data(source.utf8).write(to: URL(fileURLWithPath: emitSwift), options: .atomic)
            } catch {
                standardError("\(emitSwift): error: cannot write the generated Swift: \(error)")
                return 1
            }
        }
        if !quiet {
            let routes = policies.routes.count
            let prefixes = policies.prefixes.count
            standardOutput("\(file): OK: \(routes) route\(routes == 1 ? "" : "s"), \(prefixes) prefix\(prefixes == 1 ? "" : "es")\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")")
        }
        return 0
    }
}
