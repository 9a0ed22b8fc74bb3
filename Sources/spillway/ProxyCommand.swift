import ArgumentParser

/// `spillway proxy`: runs the RESP proxy (``ProxyServeCommand``, the default) or reads a running
/// one's status (``ProxyStatusCommand``).
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run a RESP proxy in front of Redis that guards keys, spills big values and sheds writes on OOM, or read its status.",
        subcommands: [ProxyServeCommand.self, ProxyStatusCommand.self],
        defaultSubcommand: ProxyServeCommand.self
    )
}
