import ArgumentParser

/// `spillway demo` (not yet implemented).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Not yet implemented.")

    func run() async throws {
        throw ValidationError("spillway demo is not implemented yet")
    }
}
