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

    @Flag(help: "Also print the report as a Markdown section (for FAULTS.md).")
    var markdown = false

    func validate() throws {
        guard duration > 0, rate > 0, workers > 0, keys > 0, maxmemoryMB > 0 else {
            throw ValidationError("--duration, --rate, --workers, --keys and --maxmemory-mb must be positive")
        }
        guard (0...20).contains(spillPercent) else { throw ValidationError("--spill-percent must be 0...20") }
    }

    func run() async throws {
        let server = try await RedisServer.start(RedisServer.Options(maxMemory: maxmemoryMB << 20, maxMemoryPolicy: .noEviction))
        let blobRoot = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-soak-\(ProcessInfo.processInfo.processIdentifier)").path
        do {
            let report = try await soak(server: server, blobRoot: blobRoot)
            await server.stop()
            try? FileManager.default.removeItem(atPath: blobRoot)
            print(report.text)
            if markdown { print("\n" + report.markdown) }
        } catch {
            await server.stop()
            try? FileManager.default.removeItem(atPath: blobRoot)
            throw error
        }
    }

    // MARK: The run

    private func soak(server: RedisServer, blobRoot: String) async throws -> SoakReport {
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
        let blobs = try FileBlobStore(root: blobRoot, name: "soak")
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
        let workload = SoakWorkload(
            rate: rate, keys: keys, spillPercent: spillPercent, seed: seed, cache: cache, limiter: limiter
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

        await client.close()
        await monitor.close()
        let proxyFigures = (proxy.acceptedConnections, proxy.resetConnections)
        await proxy.shutdown()

        return SoakReport(
            date: Self.isoDate(), duration: duration, targetRate: rate, workers: workers, elapsed: elapsed,
            maxmemory: maxmemoryMB << 20, resetEvery: resetEvery, latencyMs: latencyMs, jitterMs: jitterMs,
            counts: counts, degrade: degradeStats.counts, limiter: limiterStats.counts,
            memory: memory.value.withLock { $0 }, finalMemory: finalMemory,
            resets: resets.value.withLock { $0 }, proxyAccepted: proxyFigures.0, proxyResets: proxyFigures.1,
            blobsBefore: blobsBefore, blobsAfter: blobsAfter, firstSweep: firstSweep, secondSweep: secondSweep
        )
    }

    /// Shed on every failure class, local limiter on cache failure: the policies under which no
    /// write and no rate-limit decision may surface an error.
    static let policies = PolicyTable(
        defaults: CachePolicy(
            maxKeyBytes: 256, keyOverflow: .hash, spillAbove: 4096, onOOM: .shed,
            onFailure: [.timeout: .shed, .connection: .shed, .busy: .shed, .other: .shed]
        ),
        routes: [SoakWorkload.route: PolicyOverrides(throttle: SoakWorkload.throttle)]
    )

    static func blobFigures(_ store: FileBlobStore) async throws -> (count: Int, bytes: Int) {
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

// MARK: - Workload

/// The request mix and its verification.
struct SoakWorkload: Sendable {
    static let route = "POST /orders/upload"
    /// Generous: the soak is about cache failures, not about clients over their limit.
    static let throttle = ThrottlePolicy(limit: 1_000_000, period: .seconds(1), onCacheFailure: .local, localShare: 0.5)

    let rate: Int
    let keys: Int
    let spillPercent: Int
    let seed: UInt64
    let cache: GuardedCache<RedisClient, _CacheMiddleware2<_CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, ValueSpill<FileBlobStore>>, Degrade<ContinuousClock>>>
    let limiter: RateLimiter<GuardedCache<RedisClient, _CacheMiddleware2<_CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, ValueSpill<FileBlobStore>>, Degrade<ContinuousClock>>>, ContinuousClock>
    let ticket = SoakTicket()

    /// Sends requests on the shared schedule until `end`.
    func worker(start: ContinuousClock.Instant, end: ContinuousClock.Instant) async -> SoakCounts {
        var counts = SoakCounts()
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        while true {
            let i = ticket.next()
            let due = start.advanced(by: interval * i)
            // Open loop: stop at the deadline even when behind schedule (the rate achieved is
            // then below the target, and the report says so).
            if due >= end || clock.now >= end { break }
            if clock.now < due { try? await clock.sleep(until: due) }
            await request(i, &counts)
        }
        return counts
    }

    /// One request: a rate-limit decision, then one cache operation.
    func request(_ i: Int, _ counts: inout SoakCounts) async {
        var random = SplitMix64(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        counts.requests += 1
        let decision = await limiter.decide(client: "client-\(random.next() % 500)", scope: Self.route, policy: Self.throttle)
        counts.limiter[decision.path.rawValue, default: 0] += 1

        let roll = Int(random.next() % 100)
        let key = CacheKey("soak:\(random.next() % UInt64(keys))")
        let op: String
        do {
            if roll < 50 {
                op = "get"
                if let value = try await cache.get(key, route: Self.route) {
                    if !Self.verify(value) { counts.wrongBytes += 1 }
                    counts.hits += 1
                }
            } else if roll < 50 + spillPercent {
                op = "set spilled"
                let bigKey = CacheKey("soak:big:\(random.next() % 2_000)")
                counts.record(try await cache.set(bigKey, value: Self.value(seed: random.next(), size: 16 * 1024), expiry: .after(.seconds(60)), route: Self.route))
            } else if roll < 85 {
                op = "set small"
                counts.record(try await cache.set(key, value: Self.value(seed: random.next(), size: 256), expiry: .after(.seconds(120)), route: Self.route))
            } else if roll < 95 {
                // The incident's lock key: raw task input in the key (10 KB), SET NX with a TTL.
                op = "lock (10 KB key, NX)"
                let raw = "task-\(random.next() % 100_000)-" + String(repeating: "sale_orders=[…]", count: 680)
                counts.record(try await cache.set(CacheKey(raw), value: ByteBuffer(string: "1"), expiry: .after(.seconds(10)), condition: .ifNotExists, route: Self.route))
            } else {
                op = "delete"
                try await cache.delete(key, route: Self.route)
            }
            counts.operations[op, default: 0] += 1
        } catch {
            let name = roll < 50 ? "get" : roll < 50 + spillPercent ? "set spilled" : roll < 85 ? "set small" : roll < 95 ? "lock (10 KB key, NX)" : "delete"
            counts.operations[name, default: 0] += 1
            counts.errors["\(name): \(error.code)", default: 0] += 1
        }
    }

    /// A self-verifying value: a 16-byte header (magic, length, seed), then the seed repeated.
    static func value(seed: UInt64, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        buffer.writeInteger(UInt32(0x534F_414B))  // "SOAK"
        buffer.writeInteger(UInt32(size))
        buffer.writeInteger(seed)
        while buffer.writerIndex + 8 <= size { buffer.writeInteger(seed) }
        while buffer.writerIndex < size { buffer.writeInteger(UInt8(truncatingIfNeeded: seed)) }
        return buffer
    }

    /// Whether a value read back is exactly one that ``value(seed:size:)`` wrote.
    static func verify(_ value: ByteBuffer) -> Bool {
        var v = value
        guard v.readInteger(as: UInt32.self) == 0x534F_414B, let size = v.readInteger(as: UInt32.self),
            Int(size) == value.readableBytes, let seed = v.readInteger(as: UInt64.self)
        else { return false }
        while v.readableBytes >= 8 {
            guard v.readInteger(as: UInt64.self) == seed else { return false }
        }
        while let byte = v.readInteger(as: UInt8.self) {
            guard byte == UInt8(truncatingIfNeeded: seed) else { return false }
        }
        return true
    }
}

/// A value shared by the soak's tasks.
final class SoakBox<Value: Sendable>: Sendable {
    let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }
}

/// Hands out request numbers to workers, in order.
final class SoakTicket: Sendable {
    private let counter = Atomic<Int>(0)

    func next() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// What one worker saw.
struct SoakCounts: Sendable {
    var requests = 0
    var operations: [String: Int] = [:]
    var errors: [String: Int] = [:]
    var limiter: [String: Int] = [:]
    var outcomes: [String: Int] = [:]
    var hits = 0
    var wrongBytes = 0

    mutating func record(_ outcome: WriteOutcome) {
        let name: String
        switch outcome {
        case .stored: name = "stored"
        case .conditionNotMet: name = "condition not met"
        case .dropped(let code): name = "dropped (\(code))"
        case .storedLocally(let code): name = "stored locally (\(code))"
        }
        outcomes[name, default: 0] += 1
    }

    mutating func merge(_ other: SoakCounts) {
        requests += other.requests
        hits += other.hits
        wrongBytes += other.wrongBytes
        operations.merge(other.operations, uniquingKeysWith: +)
        errors.merge(other.errors, uniquingKeysWith: +)
        limiter.merge(other.limiter, uniquingKeysWith: +)
        outcomes.merge(other.outcomes, uniquingKeysWith: +)
    }
}

// MARK: - Report

/// The figures of one soak run.
struct SoakReport {
    struct MemorySample {
        var at: Duration
        var usedBytes: Int
        var keys: Int
    }

    var date: String
    var duration: Int
    var targetRate: Int
    var workers: Int
    var elapsed: Duration
    var maxmemory: Int
    var resetEvery: Double
    var latencyMs: Double
    var jitterMs: Double
    var counts: SoakCounts
    var degrade: DegradeStats.Counts
    var limiter: RateLimitStats.Counts
    var memory: [MemorySample]
    var finalMemory: CacheMemoryStats
    var resets: Int
    var proxyAccepted: Int
    var proxyResets: Int
    var blobsBefore: (count: Int, bytes: Int)
    var blobsAfter: (count: Int, bytes: Int)
    var firstSweep: SweepReport
    var secondSweep: SweepReport

    var seconds: Double { Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18 }
    var achievedRate: Double { Double(counts.requests) / max(seconds, 0.001) }

    /// Errors that reached callers of writes and of the limiter (the policies promise none).
    var writeErrors: Int {
        counts.errors.filter { $0.key.hasPrefix("set") || $0.key.hasPrefix("lock") }.values.reduce(0, +)
    }
    var readErrors: Int {
        counts.errors.filter { $0.key.hasPrefix("get") || $0.key.hasPrefix("delete") }.values.reduce(0, +)
    }

    static func mb(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }

    /// Memory samples every ~5 s.
    var memoryLine: String {
        memory.enumerated().filter { $0.offset % 5 == 0 || $0.offset == memory.count - 1 }.map {
            "\($0.element.at.components.seconds)s: \(Self.mb($0.element.usedBytes)) (\($0.element.keys) keys)"
        }.joined(separator: ", ")
    }

    var text: String {
        var lines: [String] = []
        lines.append("spillway soak, \(date)")
        lines.append("  config: \(duration) s, target \(targetRate) req/s, \(workers) workers, maxmemory \(Self.mb(maxmemory)) noeviction, resets every \(resetEvery) s, latency \(latencyMs) ms + jitter \(jitterMs) ms")
        lines.append("  requests: \(counts.requests) in \(String(format: "%.1f", seconds)) s = \(String(format: "%.0f", achievedRate)) req/s achieved")
        lines.append("  operations: \(counts.operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        lines.append("  write outcomes: \(counts.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        lines.append("  limiter decisions: \(counts.limiter.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) (errors surfaced: 0; decide never throws)")
        lines.append("  errors surfaced to callers: writes \(writeErrors), reads/deletes \(readErrors)")
        for (k, v) in counts.errors.sorted(by: { $0.key < $1.key }) { lines.append("    \(k): \(v)") }
        lines.append("  wrong bytes returned: \(counts.wrongBytes) (of \(counts.hits) hits verified)")
        lines.append("  degrade: shed \(degrade.shed), breaker rejected \(degrade.breakerRejected), failed \(degrade.failed)")
        lines.append("  redis memory: \(memoryLine); final \(Self.mb(finalMemory.usedBytes)), \(finalMemory.keyCount) keys")
        lines.append("  proxy: \(proxyAccepted) connections accepted, \(proxyResets) reset (\(resets) by the periodic resets)")
        lines.append("  blobs: \(blobsBefore.count) blobs, \(Self.mb(blobsBefore.bytes)) before the sweep; sweep reclaimed \(firstSweep.orphaned) orphans + \(firstSweep.expired) expired (\(Self.mb(firstSweep.bytesReclaimed))); after: \(blobsAfter.count) blobs, \(Self.mb(blobsAfter.bytes)); orphans found by a second sweep: \(secondSweep.orphaned)")
        return lines.joined(separator: "\n")
    }

    var markdown: String {
        var rows: [String] = []
        rows.append("| figure | value |")
        rows.append("|---|---|")
        rows.append("| config | \(duration) s, target \(targetRate) req/s, \(workers) workers, `maxmemory` \(Self.mb(maxmemory)) `noeviction`, proxy resets every \(resetEvery) s, latency \(latencyMs) ms + jitter ≤ \(jitterMs) ms on replies |")
        rows.append("| requests | \(counts.requests) in \(String(format: "%.1f", seconds)) s: **\(String(format: "%.0f", achievedRate)) req/s achieved** |")
        rows.append("| operations | \(counts.operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |")
        rows.append("| write outcomes | \(counts.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |")
        rows.append("| limiter decisions | \(counts.limiter.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |")
        rows.append("| errors surfaced: writes + limiter (target 0) | **\(writeErrors)** |")
        rows.append("| errors surfaced: reads and deletes (no policy absorbs them) | \(readErrors): \(counts.errors.filter { $0.key.hasPrefix("get") || $0.key.hasPrefix("delete") }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |")
        rows.append("| wrong bytes returned | **\(counts.wrongBytes)** (of \(counts.hits) hits, each verified) |")
        rows.append("| degradation | shed \(degrade.shed), breaker rejected \(degrade.breakerRejected), failed \(degrade.failed) |")
        rows.append("| Redis memory over time | \(memoryLine) |")
        rows.append("| proxy | \(proxyAccepted) connections accepted, \(proxyResets) reset |")
        rows.append("| blob bytes | \(blobsBefore.count) blobs, \(Self.mb(blobsBefore.bytes)) at the end of the load |")
        rows.append("| sweep | reclaimed \(firstSweep.orphaned) orphans and \(firstSweep.expired) expired (\(Self.mb(firstSweep.bytesReclaimed))); \(blobsAfter.count) blobs, \(Self.mb(blobsAfter.bytes)) left |")
        rows.append("| orphans after a sweep | **\(secondSweep.orphaned)** |")
        return rows.joined(separator: "\n")
    }
}
