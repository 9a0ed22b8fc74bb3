import Foundation
import PackagePlugin

/// `swift package spillway-audit redis://HOST:PORT [--json] [--sample N] [--policies FILE]`:
/// runs `spillway audit` against a live Redis with the package's policy file.
///
/// The policy file is the one given with `--policies`, else the first `spillway.yml`,
/// `spillway.yaml` or `spillway.json` found in the package's root or its targets. The plugin
/// writes nothing; it needs permission to open network connections (to Redis).
///
/// It asks SwiftPM to build the `spillway` product when the command runs, rather than declaring
/// `spillway` as the plugin's tool: a declared tool is compiled a second time for the host
/// (NIOSSL's BoringSSL, NIOPosix, the Redis client, ArgumentParser) by every `swift build` of
/// this package, although nobody runs the audit then.
@main
struct SpillwayAuditPlugin: CommandPlugin {
    static let fileNames = ["spillway.yml", "spillway.yaml", "spillway.json"]

    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let build = try packageManager.build(.product("spillway"), parameters: .init(configuration: .debug, logging: .concise))
        guard build.succeeded, let tool = build.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "spillway" })?.url else {
            Diagnostics.error("could not build the spillway tool:\n\(build.logText)")
            throw ExitStatus(code: 1)
        }
        var args = ["audit"] + arguments
        if !arguments.contains("--policies") {
            guard let policies = findPolicyFile(in: context.package) else {
                Diagnostics.error("no spillway.yml, spillway.yaml or spillway.json in the package; pass --policies FILE")
                throw ExitStatus(code: 1)
            }
            args += ["--policies", policies.path]
        }
        let process = Process()
        process.executableURL = tool
        process.arguments = args
        try process.run()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            Diagnostics.error("spillway audit exited with status \(process.terminationStatus)")
            throw ExitStatus(code: process.terminationStatus)
        }
    }

    private func findPolicyFile(in package: Package) -> URL? {
        let root = package.directoryURL
        for name in Self.fileNames {
            let url = root.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        for target in package.targets {
            guard let module = target as? SourceModuleTarget else { continue }
            if let file = module.sourceFiles.first(where: { Self.fileNames.contains($0.url.lastPathComponent) }) {
                return file.url
            }
        }
        return nil
    }
}

/// The audit's exit status, passed on so `swift package spillway-audit` can gate CI.
struct ExitStatus: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "spillway audit failed (exit status \(code))" }
}
