import ArgumentParser

/// `spillway bench`: end-to-end ratios measured in one run on this machine.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Spillway against a reference on this machine, in the same run, and print ratios.",
        subcommands: [BenchKeyGuardCommand.self, BenchXXHashCommand.self, BenchRedisCommand.self, BenchBlobStoresCommand.self]
    )
}
