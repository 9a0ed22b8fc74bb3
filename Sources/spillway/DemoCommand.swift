import ArgumentParser
import Foundation
import NIOCore
import Spillway

/// `spillway demo`: replays the incident on the embedded `MemoryCache` or a real Redis
/// (`--backend`), unguarded and guarded, with the same memory limit and workload, and prints
/// them side by side. A third run shows the guarded chain on a cache that is already full,
/// where every write is refused.
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

    @Option(help: "Where to replay: memory (the embedded MemoryCache), redis (a throwaway redis-server on 127.0.0.1), or a redis:// or rediss:// URL, or a Redis Cluster: redis-cluster://host:port,host:port.")
    var backend: String = "memory"

    @Option(
        help:
            "Where the guarded runs spill (payload-in-value): file:///path, postgres://user:pass@host:port/db, s3://bucket?endpoint=http://host:port&region=… (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY). Default: a fresh directory under $TMPDIR per run. Each run's blobs are deleted afterwards."
    )
    var blobStore: String?

    @Flag(help: "Allow the Redis demo to empty a database that holds keys (it runs FLUSHDB before each run).")
    var flush = false

    @Flag(help: "Print JSON with stable field names instead of a table.")
    var json = false

    func validate() throws {
        guard Self.parseBytes(maxmemory) != nil else { throw ValidationError("--maxmemory must be a byte count like 8388608, 512k or 8m") }
        guard tasks > 0, concurrency > 0, clients > 0 else { throw ValidationError("--tasks, --concurrency and --clients must be positive") }
        guard keyBytes >= 64 else { throw ValidationError("--key-bytes must be at least 64") }
        do {
            _ = try DemoBackend(backend)
        } catch {
            throw ValidationError("--backend: \(error.message)")
        }
        guard IncidentReplay.WorkloadShape(rawValue: shape) != nil else {
            throw ValidationError("--shape must be one of: \(IncidentReplay.WorkloadShape.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let blobStore {
            do throws(BlobStoreURLError) {
                _ = try BlobStoreURL.parse(blobStore)
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    /// The upload route's rate limit in the demo: generous, so that only cache failures matter.
    static let uploadThrottle = ThrottlePolicy(limit: 600, period: .seconds(60), onCacheFailure: .local, localShare: 0.5)

    func run() async throws {
        guard let blobStore else { return try await run(blobStore: nil) }
        let store: any BlobStore
        do {
            store = try BlobStoreURL.parse(blobStore).open()
        } catch {
            StandardError.write("spillway demo: \(error)")
            throw ExitCode(2)
        }
        try await BlobStoreURL.withRunning(store) { try await run(blobStore: store) }
    }

    private func run(blobStore: (any BlobStore)?) async throws {
        let limit = Self.parseBytes(maxmemory)!
        let replay = IncidentReplay(
            tasks: tasks, keyBytes: keyBytes, concurrency: concurrency, clients: clients,
            shape: IncidentReplay.WorkloadShape(rawValue: shape)!
        )
        let report: DemoReport
        switch try DemoBackend(backend) {
        case .memory:
            report = try await Self.report(on: MemoryDemoTarget(), limit: limit, replay: replay, blobStore: blobStore)
        case .redis(let url):
            let target: RedisServerDemoTarget
            do {
                if let url {
                    target = try await RedisServerDemoTarget.connect(url: url, allowFlush: flush)
                } else {
                    target = try await RedisServerDemoTarget.throwaway()
                    if !json { StandardError.write("spillway demo: started a throwaway redis-server at \(target.description)") }
                }
            } catch {
                StandardError.write("spillway demo: \(error)")
                throw ExitCode(2)
            }
            report = try await Self.report(on: target, limit: limit, replay: replay, blobStore: blobStore)
        case .redisCluster(let url):
            let target: RedisClusterDemoTarget
            do {
                target = try await RedisClusterDemoTarget.connect(url: url, allowFlush: flush)
            } catch {
                StandardError.write("spillway demo: \(error)")
                throw ExitCode(2)
            }
            report = try await Self.report(on: target, limit: limit, replay: replay, blobStore: blobStore)
        }
        if json {
            print(try report.json())
        } else {
            print(report.table())
        }
    }

    /// Runs the three replays on `target`, each on an empty cache with `limit` bytes of room,
    /// and calls the target's ``DemoTarget/finish()`` afterwards whatever happens.
    /// - Parameters:
    ///   - blobParent: the directory the guarded runs' blob stores are made in; `nil` is
    ///     `$TMPDIR` (or `/tmp`), as on the command line.
    ///   - blobStore: a store for every guarded run instead (`--blob-store`, running); each run's
    ///     blobs are deleted after it.
    /// - Throws: when the target cannot be reset or asked for its memory.
    static func report<T: DemoTarget>(
        on target: T, limit: Int, replay: IncidentReplay, blobParent: String? = nil, blobStore: (any BlobStore)? = nil
    ) async throws -> DemoReport {
        let blobs: DemoBlobs = blobStore.map { .shared($0) } ?? .temporary(parent: blobParent)
        do {
            let report = try await runs(on: target, limit: limit, replay: replay, blobs: blobs)
            await target.finish()
            return report
        } catch {
            await target.finish()
            throw error
        }
    }

    private static func runs<T: DemoTarget>(on target: T, limit: Int, replay: IncidentReplay, blobs: DemoBlobs) async throws -> DemoReport {
        // A short run of the same path before each measured run, on targets that need it.
        var warmUp = replay
        warmUp.tasks = min(replay.tasks, 2 * replay.concurrency)
        func fresh(_ path: (T.Client) async throws -> Void) async throws -> T.Client {
            let client = try await target.freshCache(limit: limit)
            guard target.warmsUp else { return client }
            try await path(client)
            return try await target.freshCache(limit: limit)
        }

        // Unguarded: the application talks to the cache client directly, and throttles like DRF.
        let bare = try await fresh { _ = await unguardedRun(warmUp, client: $0) }
        let unguarded = await unguardedRun(replay, client: bare)
        let unguardedStats = try await target.memoryStats(bare)

        // Guarded: the same client wrapped in Spillway's chain; the throttle is a GCRA limiter.
        let guardedClient = try await fresh { _ = try await guardedRun(warmUp, client: $0, blobs: blobs) }
        let (guarded, guardedCounters) = try await guardedRun(replay, client: guardedClient, blobs: blobs)
        let guardedStats = try await target.memoryStats(guardedClient)

        // Guarded, on a cache that is already full (the incident's state once Redis hit maxmemory).
        let fullClient = try await fresh { _ = try await guardedRun(warmUp, client: $0, blobs: blobs) }
        try await fill(fullClient)
        let (full, fullCounters) = try await guardedRun(replay, client: fullClient, blobs: blobs)
        let fullStats = try await target.memoryStats(fullClient)

        return DemoReport(
            config: .init(
                backend: target.description, maxmemory: limit, tasks: replay.tasks, keyBytes: replay.keyBytes,
                concurrency: replay.concurrency, clients: replay.clients, shape: replay.shape.rawValue
            ),
            unguarded: .init(unguarded, stats: unguardedStats),
            guarded: .init(guarded, stats: guardedStats, counters: guardedCounters),
            guardedFullCache: .init(full, stats: fullStats, counters: fullCounters)
        )
    }

    /// Runs the workload on the bare client, throttling like DRF.
    static func unguardedRun(_ replay: IncidentReplay, client: some CacheClient) async -> IncidentReplay.Result {
        await replay.run(throttle: IncidentReplay.drfThrottle { op throws(CacheError) in try await client.execute(op) }) { _, op throws(CacheError) in
            try await client.execute(op)
        }
    }

    /// The background task's cache policy in the demo: values above 4 KiB spill to the blob store.
    static let taskPolicies = PolicyTable(routes: ["job:upload-task": PolicyOverrides(spillAbove: .some(4096))])

    /// Runs the workload through the guarded chain and returns its result with the chain's counters.
    /// - Parameter blobs: where the run spills. On a full disk or a store that is down, spilled
    ///   writes are shed (`.dropped(.blobStore)`), never thrown.
    static func guardedRun(_ replay: IncidentReplay, client: some CacheClient, blobs: DemoBlobs = .temporary(parent: nil)) async throws -> (
        IncidentReplay.Result, DemoReport.Counters
    ) {
        switch blobs {
        case .temporary(let parent):
            let file: FileBlobStore
            if let parent {
                file = try FileBlobStore(root: parent + "/spillway-blobs-\(UInt64.random(in: 0 ... .max))", name: "demo")
            } else {
                file = try FileBlobStore.temporary(name: "demo")
            }
            defer { try? file.removeAll() }
            return try await guardedRun(replay, client: client, store: file)
        case .shared(let store):
            return try await guardedRun(replay, client: client, store: store)
        }
    }

    /// Runs the workload spilling to `store`, and deletes the blobs the run wrote afterwards.
    private static func guardedRun<S: BlobStore>(_ replay: IncidentReplay, client: some CacheClient, store: S) async throws -> (
        IncidentReplay.Result, DemoReport.Counters
    ) {
        let tracked = TrackedBlobStore(store)
        do {
            let result = try await trackedRun(replay, client: client, store: tracked)
            // The run's blobs are deleted: a shared store is left as it was found.
            try await tracked.deleteWritten()
            return result
        } catch {
            // Best effort: the run's own error is the one to report; a blob left behind
            // keeps its TTL and the sweeper reclaims it.
            _ = try? await tracked.deleteWritten()
            throw error
        }
    }

    private static func trackedRun<S: BlobStore>(_ replay: IncidentReplay, client: some CacheClient, store blobs: TrackedBlobStore<S>) async throws -> (
        IncidentReplay.Result, DemoReport.Counters
    ) {
        let degradeStats = DegradeStats()
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
            // Shed writes as the callers saw them (`.dropped`): by Degrade, and by the spill's
            // storage ladder when the blob store is full, which Degrade below it never sees.
            throttleDegraded: limiterCounts.degraded, writesShed: result.writesShed, writesFailed: d.failed, blobs: blobs.figures.count,
            blobBytes: blobs.figures.bytes, blobStore: blobs.name
        )
        return (result, counters)
    }

    /// Where the guarded runs spill.
    enum DemoBlobs: Sendable {
        /// A fresh ``FileBlobStore`` per run under `parent` (`nil`: `$TMPDIR`), removed after it.
        case temporary(parent: String?)
        /// One store for every run (`--blob-store`); each run's blobs are deleted after it.
        case shared(any BlobStore)
    }

    /// Fills a cache with unrelated keys until it refuses writes with `.outOfMemory`.
    /// - Throws: any other error.
    static func fill(_ cache: some CacheClient) async throws(CacheError) {
        var i = 0
        while true {
            do throws(CacheError) {
                _ = try await cache.execute(.set(CacheKey("other-tenant:\(i)"), ByteBuffer(repeating: 0x61, count: 4096), SetOptions()))
                i += 1
            } catch  where error.code == .outOfMemory {
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
