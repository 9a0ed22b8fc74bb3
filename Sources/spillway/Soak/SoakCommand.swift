import ArgumentParser
import Foundation
import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization

/// `spillway soak`: the incident's load against a real, small `redis-server`, through the whole
/// guarded chain, while a fault proxy resets connections and adds latency.
///
/// It starts `redis-server` (`maxmemory 16mb`, `noeviction`), a ``FaultProxy`` in front of it,
/// and a `GuardedCache` over a `RedisClient` that talks through the proxy, with the chain
/// `KeyGuard → LimitsGuard → ValueSpill(FileBlobStore) → Degrade(write breaker)`. Workers send
/// requests at `--rate` per second (open loop): each is one rate-limit decision (`local` on cache
/// failure) and one cache operation (reads, small writes, spilled writes, `NX` locks with 10 KB
/// raw keys, deletes). Every value read is verified. At the end it sweeps the blob store and
/// reports requests, the rate achieved, errors surfaced to callers by operation, wrong bytes,
/// Redis memory over time, blob bytes and orphans.
struct SoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run the incident's load against a real redis-server (maxmemory 16mb) through the guarded chain, with resets and latency injected."
    )

    @Option(help: "How long to run, in seconds.")
    var duration: Int = 60

    @Option(help: "Target requests per second (open loop).")
    var rate: Int = 10_000

    @Option(help: "Concurrent workers sending requests.")
    var workers: Int = 128

    @Option(help: "The server's maxmemory, in MiB.")
    var maxmemoryMB: Int = 16

    @Option(help: "Reset every proxied connection this often, in seconds (0: never).")
    var resetEvery: Double = 5

    @Option(help: "Latency added to every reply chunk, in milliseconds.")
    var latencyMs: Double = 1

    @Option(help: "Extra random latency per reply chunk, up to this many milliseconds.")
    var jitterMs: Double = 2

    @Option(help: "Distinct keys for small values.")
    var keys: Int = 50_000

    @Option(help: "Per cent of requests that write a spilled (16 KiB) value.")
    var spillPercent: Int = 2

    @Option(help: "Per-operation timeout of the Redis client, in milliseconds.")
    var commandTimeoutMs: Int = 500

    @Option(help: "The seed of the workload and the jitter.")
    var seed: UInt64 = 1

    @Option(
        help:
            "Where values spill: file:///path, postgres://user:pass@host:port/db, s3://bucket?endpoint=http://host:port&region=… (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY). Default: a fresh directory under $TMPDIR. The sweep only ever considers the blobs this run wrote, and they are deleted at the end."
    )
    var blobStore: String?

    @Flag(help: "Also print the report as a Markdown section (for FAULTS.md).")
    var markdown = false

    func validate() throws {
        guard duration > 0, rate > 0, workers > 0, keys > 0, maxmemoryMB > 0 else {
            throw ValidationError("--duration, --rate, --workers, --keys and --maxmemory-mb must be positive")
        }
        guard (0...20).contains(spillPercent) else { throw ValidationError("--spill-percent must be 0...20") }
        if let blobStore {
            do throws(BlobStoreURLError) {
                _ = try BlobStoreURL.parse(blobStore)
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    func run() async throws {
        let store: any BlobStore
        var temporaryRoot: String?
        if let blobStore {
            do {
                store = try BlobStoreURL.parse(blobStore).open()
            } catch {
                StandardError.write("spillway soak: \(error)")
                throw ExitCode(2)
            }
        } else {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-soak-\(ProcessInfo.processInfo.processIdentifier)").path
            store = try FileBlobStore(root: root, name: "soak")
            temporaryRoot = root
        }
        defer { if let temporaryRoot { try? FileManager.default.removeItem(atPath: temporaryRoot) } }
        let report = try await BlobStoreURL.withRunning(store) { try await run(store: store) }
        print(report.text)
        if markdown { print("\n" + report.markdown) }
    }

    /// Runs the soak on a fresh redis-server, spilling to `store`; the blobs it wrote are
    /// deleted afterwards (the server and its keys are gone).
    func run<S: BlobStore>(store: S) async throws -> SoakReport {
        let server = try await RedisServer.start(RedisServer.Options(maxMemory: maxmemoryMB << 20, maxMemoryPolicy: .noEviction))
        let blobs = TrackedBlobStore(store, ownBlobsOnly: true)
        do {
            var report = try await soak(server: server, blobs: blobs)
            await server.stop()
            report.blobsDeletedAtExit = try await blobs.deleteWritten()
            return report
        } catch {
            await server.stop()
            // Best effort: the run's own error is the one to report; a blob left behind
            // keeps its TTL and the sweeper reclaims it.
            _ = try? await blobs.deleteWritten()
            throw error
        }
    }

    // MARK: The run

    private func soak<S: BlobStore>(server: RedisServer, blobs: TrackedBlobStore<S>) async throws -> SoakReport {
        let proxy = try await FaultProxy.start(targetPort: server.port, seed: seed)
        proxy.update(.downstream) {
            $0.latency = .microseconds(Int64(latencyMs * 1000))
            $0.jitter = .microseconds(Int64(jitterMs * 1000))
        }
        let timeout = Duration.milliseconds(commandTimeoutMs)
        let client = try server.makeClient {
            $0.port = proxy.port
            $0.commandTimeout = timeout
        }
        let monitor = try server.makeClient()
        let degradeStats = DegradeStats()
        let limiterStats = RateLimitStats()
        let policies = Self.policies
        let cache = GuardedCache(client: client, policies: policies) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: blobs)
            Degrade(fallback: nil, breaker: WriteBreaker<ContinuousClock>(name: "soak"), pressure: nil, stats: degradeStats)
        }
        let limiter = RateLimiter(store: cache, stats: limiterStats)
        // Spilled keys outlive the run and its two sweeps, so a key cannot expire between the
        // sweep passes and leave an orphan that only the second pass sees (the "one orphan after
        // a sweep" that every soak used to report): the second sweep must find 0.
        let workload = SoakWorkload(
            rate: rate, keys: keys, spillPercent: spillPercent, seed: seed,
            spilledTTL: .seconds(max(60, duration + 600)), cache: cache, limiter: limiter
        )

        let clock = ContinuousClock()
        let start = clock.now
        let end = start.advanced(by: .seconds(duration))
        let memory = SoakBox<[SoakReport.MemorySample]>([])
        let resets = SoakBox(0)

        let counts = try await withThrowingTaskGroup(of: SoakCounts?.self) { group in
            for _ in 0..<workers {
                group.addTask { await workload.worker(start: start, end: end) }
            }
            // Redis memory, straight from the server (not through the proxy), every second.
            group.addTask {
                while clock.now < end {
                    if let stats = try? await monitor.memoryStats() {
                        let t = start.duration(to: clock.now)
                        memory.value.withLock { $0.append(.init(at: t, usedBytes: stats.usedBytes, keys: stats.keyCount)) }
                    }
                    try? await clock.sleep(for: .seconds(1))
                }
                return nil
            }
            // Connection resets.
            if resetEvery > 0 {
                group.addTask {
                    let interval = Duration.milliseconds(Int64(resetEvery * 1000))
                    var next = start.advanced(by: interval)
                    while next < end {
                        try? await clock.sleep(until: next)
                        let n = await proxy.resetAll()
                        resets.value.withLock { $0 += n }
                        next = next.advanced(by: interval)
                    }
                    return nil
                }
            }
            var total = SoakCounts()
            for try await c in group { if let c { total.merge(c) } }
            return total
        }
        let elapsed = start.duration(to: clock.now)

        // Heal, let the chain settle, then reconcile the blob store against the keys.
        await proxy.heal()
        let blobsBefore = try await Self.blobFigures(blobs)
        let sweeper = BlobSweeper(store: blobs, client: monitor, minimumAge: .zero)
        let firstSweep = try await sweeper.sweepOnce()
        let secondSweep = try await sweeper.sweepOnce()
        let blobsAfter = try await Self.blobFigures(blobs)
        let finalMemory = try await monitor.memoryStats()

        let resent = client.retriedCommands
        await client.close()
        await monitor.close()
        let proxyFigures = (proxy.acceptedConnections, proxy.resetConnections)
        await proxy.shutdown()

        return SoakReport(
            date: Self.isoDate(), duration: duration, targetRate: rate, workers: workers, elapsed: elapsed,
            maxmemory: maxmemoryMB << 20, resetEvery: resetEvery, latencyMs: latencyMs, jitterMs: jitterMs,
            counts: counts, degrade: degradeStats.counts, limiter: limiterStats.counts,
            memory: memory.value.withLock { $0 }, finalMemory: finalMemory,
            resets: resets.value.withLock { $0 }, resent: resent, proxyAccepted: proxyFigures.0, proxyResets: proxyFigures.1,
            blobsBefore: blobsBefore, blobsAfter: blobsAfter, firstSweep: firstSweep, secondSweep: secondSweep, blobStore: blobs.name
        )
    }

    /// Shed on every failure class, local limiter on cache failure: the policies under which no
    /// write and no rate-limit decision may surface an error.
    static let policies = PolicyTable(
        defaults: CachePolicy(
            maxKeyBytes: 256, keyOverflow: .hash, spillAbove: 4096, onOOM: .shed,
            onFailure: [.timeout: .shed, .connection: .shed, .busy: .shed, .other: .shed]
        ),
        routes: [SoakRoute.route: PolicyOverrides(throttle: SoakRoute.throttle)]
    )

    static func blobFigures(_ store: some BlobStore) async throws -> (count: Int, bytes: Int) {
        var count = 0
        var bytes = 0
        var cursor: BlobID?
        repeat {
            let page = try await store.scan(after: cursor, limit: 1024)
            count += page.blobs.count
            bytes += page.blobs.reduce(0) { $0 + $1.length }
            cursor = page.next
        } while cursor != nil
        return (count, bytes)
    }

    static func isoDate() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }
}
