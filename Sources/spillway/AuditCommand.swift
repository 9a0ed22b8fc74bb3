import ArgumentParser

/// `spillway audit` (not yet implemented).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Not yet implemented.")

    func run() async throws {
        throw ValidationError("spillway audit is not implemented yet")
    }
}
