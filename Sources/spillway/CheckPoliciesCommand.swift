import ArgumentParser

/// `spillway check-policies` (not yet implemented).
struct CheckPoliciesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-policies", abstract: "Not yet implemented.")

    func run() async throws {
        throw ValidationError("spillway check-policies is not implemented yet")
    }
}
