import ArgumentParser

/// `spillway soak` (not yet implemented).
struct SoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "soak", abstract: "Not yet implemented.")

    func run() async throws {
        throw ValidationError("spillway soak is not implemented yet")
    }
}
