import ArgumentParser

/// The `spillway` command-line tool.
@main
struct SpillwayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spillway",
        abstract: "Keeps cache writes from taking production down: key guard, value spill, OOM degradation.",
        subcommands: [
            DemoCommand.self,
            BenchCommand.self,
            CheckPoliciesCommand.self,
            AuditCommand.self,
            SoakCommand.self,
            SpillCommand.self,
            ProxyCommand.self,
        ]
    )
}
