import ArgumentParser
import Foundation
import NIOCore
import Spillway

/// `spillway demo`: replays the incident on the embedded `MemoryCache`, unguarded and guarded,
/// with the same memory limit and workload, and prints the two side by side.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay the production incident (10 KB keys, a full cache) unguarded and guarded, side by side."
    )

    @Option(help: "The cache's maxmemory, in bytes (suffixes k, m accepted: 8m).")
    var maxmemory: String = "8m"

    @Option(help: "Simulated upload requests, one background task each.")
    var tasks: Int = 2000

    @Option(help: "Bytes of raw payload in each lock key.")
    var keyBytes: Int = 10_240

    @Option(help: "Requests in flight at once.")
    var concurrency: Int = 16

    @Option(help: "Distinct clients (one throttle key each).")
    var clients: Int = 50

    @Option(help: "Workload: payload-in-key (the incident) or payload-in-value.")
    var shape: String = IncidentReplay.WorkloadShape.payloadInKey.rawValue

    @Flag(help: "Print JSON with stable field names instead of a table.")
    var json = false

    func validate() throws {
        guard Self.parseBytes(maxmemory) != nil else { throw ValidationError("--maxmemory must be a byte count like 8388608, 512k or 8m") }
        guard tasks > 0, concurrency > 0, clients > 0 else { throw ValidationError("--tasks, --concurrency and --clients must be positive") }
        guard keyBytes >= 64 else { throw ValidationError("--key-bytes must be at least 64") }
        guard IncidentReplay.WorkloadShape(rawValue: shape) != nil else {
            throw ValidationError("--shape must be one of: \(IncidentReplay.WorkloadShape.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let limit = Self.parseBytes(maxmemory)!
        let replay = IncidentReplay(
            tasks: tasks, keyBytes: keyBytes, concurrency: concurrency, clients: clients,
            shape: IncidentReplay.WorkloadShape(rawValue: shape)!
        )

        // Unguarded: the application talks to the cache client directly.
        let bare = MemoryCache(maxMemory: limit, policy: .noEviction)
        let unguarded = await replay.run { _, op throws(CacheError) in try await bare.execute(op) }
        let unguardedStats = try await bare.memoryStats()

        // Guarded: the same client wrapped in Spillway's chain.
        let guardedClient = MemoryCache(maxMemory: limit, policy: .noEviction)
        let cache = GuardedCache(client: guardedClient) {
            KeyGuard()
            LimitsGuard()
        }
        let guarded = await replay.run { _, op throws(CacheError) in try await cache.execute(op) }
        let guardedStats = try await guardedClient.memoryStats()

        let report = DemoReport(
            config: .init(maxmemory: limit, tasks: tasks, keyBytes: keyBytes, concurrency: concurrency, clients: clients, shape: shape),
            unguarded: .init(unguarded, stats: unguardedStats),
            guarded: .init(guarded, stats: guardedStats)
        )
        if json {
            print(try report.json())
        } else {
            print(report.table())
        }
    }

    static func parseBytes(_ text: String) -> Int? {
        let t = text.lowercased()
        let multipliers: [(String, Int)] = [("gb", 1 << 30), ("g", 1 << 30), ("mb", 1 << 20), ("m", 1 << 20), ("kb", 1 << 10), ("k", 1 << 10), ("b", 1)]
        for (suffix, m) in multipliers where t.hasSuffix(suffix) {
            guard let n = Int(t.dropLast(suffix.count)), n > 0 else { return nil }
            return n * m
        }
        guard let n = Int(t), n > 0 else { return nil }
        return n
    }
}
