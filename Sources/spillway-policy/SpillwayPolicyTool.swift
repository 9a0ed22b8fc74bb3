import Foundation
import SpillwayPolicyFile

/// `spillway-policy [--emit-swift OUT] [--type-name NAME] [--warnings-as-errors] [--quiet] FILE`:
/// the build plugin's tool. It validates a policy file and compiles it into Swift, exactly like
/// `spillway check-policies`, but depends only on `SpillwayPolicyFile` and the core, so a package
/// that uses `SpillwayPolicyPlugin` builds neither SwiftNIO's POSIX and SSL modules, nor the Redis
/// client, the test support, Hummingbird or ArgumentParser. Its arguments are read by hand.
///
/// Exits 0 when the file is valid, 1 with every problem as `file:line: error: message`, and 2
/// for wrong arguments.
@main
enum SpillwayPolicyTool {
    static func main() {
        let request: PolicyCheckRequest?
        do {
            request = try PolicyCheckRequest.parse(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            writeError("spillway-policy: error: \(error.message)\n\n\(PolicyCheckRequest.usage)")
            exit(2)
        }
        guard let request else {
            print(PolicyCheckRequest.usage)
            exit(0)
        }
        exit(request.run(standardOutput: { print($0) }, standardError: writeError))
    }

    static func writeError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
