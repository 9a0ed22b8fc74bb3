import ArgumentParser
import Foundation
import Spillway
import SpillwayProxy

/// `spillway proxy status`: a running proxy's counters, read from its `--status-port`.
struct ProxyStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a running proxy's counters (read from its --status-port).",
        discussion: "Exits 1 when nothing answers on the port."
    )

    @Option(help: "The running proxy's --status-port.")
    var port: Int

    @Option(help: "The host the status port listens on.")
    var host = "127.0.0.1"

    @Flag(help: "Print the status JSON as the proxy serves it (one line).")
    var json = false

    func run() async throws {
        let body: String
        do {
            body = try await StatusClient.fetch(host: host, port: port)
        } catch {
            StandardError.write("spillway proxy status: \(error.message)")
            throw ExitCode(1)
        }
        if json {
            print(body)
            return
        }
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else {
            print(body)
            return
        }
        let width = fields.keys.map(\.count).max() ?? 0
        for key in fields.keys.sorted() {
            print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + "\(fields[key]!)")
        }
    }
}
