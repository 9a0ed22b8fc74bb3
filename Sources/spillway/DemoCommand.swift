import ArgumentParser
import Foundation
import NIOCore
import Spillway

/// `spillway demo`: replays the incident on the embedded `MemoryCache`, unguarded and guarded,
/// with the same memory limit and workload, and prints them side by side. A third run shows
/// the guarded chain on a cache that is already full, where every write is refused.
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

    /// The upload route's rate limit in the demo: generous, so that only cache failures matter.
    static let uploadThrottle = ThrottlePolicy(limit: 600, period: .seconds(60), onCacheFailure: .local, localShare: 0.5)

    func run() async throws {
        let limit = Self.parseBytes(maxmemory)!
        let replay = IncidentReplay(
            tasks: tasks, keyBytes: keyBytes, concurrency: concurrency, clients: clients,
            shape: IncidentReplay.WorkloadShape(rawValue: shape)!
        )

        // Unguarded: the application talks to the cache client directly, and throttles like DRF.
        let bare = MemoryCache(maxMemory: limit, policy: .noEviction)
        let unguarded = await replay.run(throttle: IncidentReplay.drfThrottle { op throws(CacheError) in try await bare.execute(op) }) { _, op throws(CacheError) in
            try await bare.execute(op)
        }
        let unguardedStats = try await bare.memoryStats()

        // Guarded: the same client wrapped in Spillway's chain; the throttle is a GCRA limiter.
        let guardedClient = MemoryCache(maxMemory: limit, policy: .noEviction)
        let (guarded, guardedRun) = try await Self.guardedRun(replay, client: guardedClient)
        let guardedStats = try await guardedClient.memoryStats()

        // Guarded, on a cache that is already full (the incident's state once Redis hit maxmemory).
        let fullClient = MemoryCache(maxMemory: limit, policy: .noEviction)
        await Self.fill(fullClient)
        let (full, fullRun) = try await Self.guardedRun(replay, client: fullClient)
        let fullStats = try await fullClient.memoryStats()

        let report = DemoReport(
            config: .init(maxmemory: limit, tasks: tasks, keyBytes: keyBytes, concurrency: concurrency, clients: clients, shape: shape),
            unguarded: .init(unguarded, stats: unguardedStats),
            guarded: .init(guarded, stats: guardedStats, counters: guardedRun),
            guardedFullCache: .init(full, stats: fullStats, counters: fullRun)
        )
        if json {
            print(try report.json())
        } else {
            print(report.table())
        }
    }

    /// The background task's cache policy in the demo: values above 4 KiB spill to the blob store.
    static let taskPolicies = PolicyTable(routes: ["job:upload-task": PolicyOverrides(spillAbove: .some(4096))])

    /// Runs the workload through the guarded chain and returns its result with the chain's counters.
    static func guardedRun(_ replay: IncidentReplay, client: MemoryCache<ContinuousClock>) async throws -> (IncidentReplay.Result, DemoReport.Counters) {
        let degradeStats = DegradeStats()
        let blobs = try FileBlobStore.temporary(name: "demo")
        defer { try? blobs.removeAll() }
        let cache = GuardedCache(client: client, policies: taskPolicies) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: blobs)
            Degrade<ContinuousClock>(stats: degradeStats)
        }
        let limiter = RateLimiter(store: cache)
        let result = await replay.run(throttle: { client, _ in
            let decision = await limiter.decide(client: "user-\(client)", scope: "POST /orders/upload", policy: uploadThrottle)
            return decision.path.rawValue
        }) { _, op throws(CacheError) in
            try await cache.execute(op, route: "job:upload-task")
        }
        let limiterCounts = limiter.stats.counts
        let d = degradeStats.counts
        let counters = DemoReport.Counters(
            throttleDegraded: limiterCounts.degraded, writesShed: d.shed, writesFailed: d.failed, blobBytes: try blobs.totalBytes()
        )
        return (result, counters)
    }

    /// Fills a cache with unrelated keys until it refuses writes.
    static func fill(_ cache: MemoryCache<ContinuousClock>) async {
        var i = 0
        while true {
            do {
                _ = try await cache.execute(.set(CacheKey("other-tenant:\(i)"), ByteBuffer(repeating: 0x61, count: 4096), SetOptions()))
                i += 1
            } catch {
                return
            }
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
