import Foundation
import PackagePlugin

/// Validates a target's policy file (`spillway.yml`, `spillway.yaml` or `spillway.json`) at build
/// time and compiles it into `SpillwayPolicies.swift`, which declares
/// `SpillwayPolicies.table: PolicyTable`.
///
/// An invalid file fails the build with `file:line: error: message` for every problem. The logic
/// lives in `SpillwayPolicyFile` (the same checks as `spillway check-policies`); this plugin only
/// finds the file and runs the small `spillway-policy` tool, which depends on nothing but the
/// policy-file module and the core.
@main
struct SpillwayPolicyPlugin: BuildToolPlugin {
    static let fileNames = ["spillway.yml", "spillway.yaml", "spillway.json"]

    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let policyFiles = module.sourceFiles.filter { Self.fileNames.contains($0.url.lastPathComponent) }.map(\.url)
        guard let input = policyFiles.first else {
            Diagnostics.warning("SpillwayPolicyPlugin: target '\(target.name)' has no spillway.yml, spillway.yaml or spillway.json")
            return []
        }
        guard policyFiles.count == 1 else {
            throw PluginError("target '\(target.name)' has more than one policy file: \(policyFiles.map(\.lastPathComponent).joined(separator: ", ")); keep one")
        }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("SpillwayPolicies.swift")
        return [
            .buildCommand(
                displayName: "Checking and compiling \(input.lastPathComponent) for \(target.name)",
                executable: try context.tool(named: "spillway-policy").url,
                arguments: ["--quiet", "--emit-swift", output.path, input.path],
                inputFiles: [input],
                outputFiles: [output]
            )
        ]
    }
}

/// A plugin failure with a message.
struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
