import ArgumentParser
import SpillwayPolicyFile

/// `spillway check-policies FILE [--emit-swift OUT]`: validates a policy file and compiles it into
/// Swift: the same checks as the build plugin's `spillway-policy` tool (``PolicyCheckRequest``).
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

    /// The request both this command and `spillway-policy` run.
    var request: PolicyCheckRequest {
        PolicyCheckRequest(file: file, emitSwift: emitSwift, typeName: typeName, warningsAsErrors: warningsAsErrors, quiet: quiet)
    }

    func validate() throws {
        do {
            try request.validate()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let status = request.run(standardOutput: { print($0) }, standardError: StandardError.write)
        if status != 0 { throw ExitCode(status) }
    }
}
