import PackagePlugin

@main
struct SpillwayAuditPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {}
}
