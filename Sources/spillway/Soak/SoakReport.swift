import Foundation
import Spillway

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
    /// Idempotent commands the client sent again after their connection was lost.
    var resent: Int
    var proxyAccepted: Int
    var proxyResets: Int
    var blobsBefore: (count: Int, bytes: Int)
    var blobsAfter: (count: Int, bytes: Int)
    var firstSweep: SweepReport
    var secondSweep: SweepReport
    /// The blob store's name (in pointers).
    var blobStore: String
    /// The run's blobs deleted at the end (the Redis server and its keys are thrown away).
    var blobsDeletedAtExit = 0

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
        lines.append("  reads answered as counted misses: \(degrade.readsDegraded); commands resent after a lost connection: \(resent)")
        for (k, v) in counts.errors.sorted(by: { $0.key < $1.key }) { lines.append("    \(k): \(v)") }
        lines.append("  wrong bytes returned: \(counts.wrongBytes) (of \(counts.hits) hits verified)")
        lines.append("  degrade: shed \(degrade.shed), breaker rejected \(degrade.breakerRejected), failed \(degrade.failed)")
        lines.append("  redis memory: \(memoryLine); final \(Self.mb(finalMemory.usedBytes)), \(finalMemory.keyCount) keys")
        lines.append("  proxy: \(proxyAccepted) connections accepted, \(proxyResets) reset (\(resets) by the periodic resets)")
        lines.append(
            "  blobs: \(blobsBefore.count) blobs, \(Self.mb(blobsBefore.bytes)) before the sweep; sweep reclaimed \(firstSweep.orphaned) orphans + \(firstSweep.expired) expired (\(Self.mb(firstSweep.bytesReclaimed))); after: \(blobsAfter.count) blobs, \(Self.mb(blobsAfter.bytes)); orphans found by a second sweep: \(secondSweep.orphaned)"
        )
        lines.append(
            "  blob store: \(blobStore); the run's \(blobsDeletedAtExit) remaining blobs deleted at exit"
        )
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
        let readDetail = counts.errors.filter { $0.key.hasPrefix("get") || $0.key.hasPrefix("delete") }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        rows.append("| errors surfaced: reads and deletes (target 0) | **\(readErrors)**\(readDetail.isEmpty ? "" : ": \(readDetail)") |")
        rows.append("| reads answered as counted misses (`onReadFailure: miss`) | \(degrade.readsDegraded) |")
        rows.append("| idempotent commands resent after a lost connection | \(resent) |")
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
