import ArgumentParser
import Foundation
import SpillwayPolicyFile

/// `spillway check-policies FILE [--emit-swift OUT]`: validates a policy file and, for the build
/// plugin, compiles it into Swift.
///
/// Prints every problem as `file:line: error: message` on stderr and exits 1 when there is an
/// error; exits 0 when the file is valid (warnings alone do not fail unless
/// `--warnings-as-errors`).
struct CheckPoliciesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-policies",
        abstract: "Validate a policy file (spillway.yml or spillway.json); exit 1 with every error.",
        discussion: "Errors are printed as 'file:line: error: message'. With --emit-swift, a valid file is also compiled into a Swift source file declaring a PolicyTable, which is what the SpillwayPolicyPlugin build plugin does."
    )

    @Argument(help: "The policy file to check.")
    var file: String

    @Option(name: .customLong("emit-swift"), help: "Also write the policies as Swift source to this path (only when the file is valid).")
    var emitSwift: String?

    @Option(name: .customLong("type-name"), help: "The enum the generated Swift declares.")
    var typeName = "SpillwayPolicies"

    @Flag(name: .customLong("warnings-as-errors"), help: "Fail on warnings too.")
    var warningsAsErrors = false

    @Flag(name: .shortAndLong, help: "Print nothing when the file is valid.")
    var quiet = false

    func validate() throws {
        guard typeName.first.map({ $0.isLetter || $0 == "_" }) == true, typeName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw ValidationError("--type-name must be a Swift identifier")
        }
    }

    func run() async throws {
        let result: PolicyCheckResult
        do {
            result = try PolicyFileLoader.check(path: file)
        } catch {
            StandardError.write(error.description)
            throw ExitCode(1)
        }
        for diagnostic in result.diagnostics {
            StandardError.write(diagnostic.rendered(file: file))
        }
        let errors = result.errors.count
        let warnings = result.warnings.count
        guard let policies = result.file, !(warningsAsErrors && warnings > 0) else {
            StandardError.write("\(file): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        if let emitSwift {
            let name = URL(fileURLWithPath: file).lastPathComponent
            let source = PolicySwiftEmitter.swiftSource(for: policies, sourceName: name, typeName: typeName)
            do {
                try Data(source.utf8).write(to: URL(fileURLWithPath: emitSwift), options: .atomic)
            } catch {
                StandardError.write("\(emitSwift): error: cannot write the generated Swift: \(error)")
                throw ExitCode(1)
            }
        }
        if !quiet {
            print("\(file): OK: \(policies.routes.count) route\(policies.routes.count == 1 ? "" : "s"), \(policies.prefixes.count) prefix\(policies.prefixes.count == 1 ? "" : "es")\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")")
        }
    }
}
