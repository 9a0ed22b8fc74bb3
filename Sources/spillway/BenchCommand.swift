import ArgumentParser

/// `spillway bench` (not yet implemented).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Not yet implemented.")

    func run() async throws {
        throw ValidationError("spillway bench is not implemented yet")
    }
}
