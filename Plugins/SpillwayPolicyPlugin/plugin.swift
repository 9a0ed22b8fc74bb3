import PackagePlugin

@main
struct SpillwayPolicyPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] { [] }
}
