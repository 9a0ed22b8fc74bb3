import Foundation
import Spillway

/// The demo's figures, printed as a table or as JSON with stable field names.
struct DemoReport: Encodable {
    struct Config: Encodable {
        /// Where the runs executed ("MemoryCache", "Redis 127.0.0.1:6379/0").
        var backend: String
        var maxmemory: Int
        var tasks: Int
        var keyBytes: Int
        var concurrency: Int
        var clients: Int
        var shape: String

        enum CodingKeys: String, CodingKey {
            case backend, maxmemory, tasks, concurrency, clients, shape
            case keyBytes = "key_bytes"
        }
    }

    struct Latency: Encodable {
        var p50Us: Double
        var p99Us: Double
        enum CodingKeys: String, CodingKey {
            case p50Us = "p50_us"
            case p99Us = "p99_us"
        }
    }

    /// What the guarded chain's middleware did during a run.
    struct Counters: Encodable {
        var throttleDegraded: Int
        var writesShed: Int
        var writesFailed: Int
        /// Spilled blobs the run left in its store (live keys' values), and their bytes.
        var blobs: Int
        var blobBytes: Int
        /// The blob store's name (in pointers).
        var blobStore: String

        enum CodingKeys: String, CodingKey {
            case throttleDegraded = "throttle_decisions_degraded"
            case writesShed = "writes_shed"
            case writesFailed = "writes_failed"
            case blobs
            case blobBytes = "blob_bytes"
            case blobStore = "blob_store"
        }
    }

    struct Run: Encodable {
        var requests: Int
        var failedRequests: Int
        var failedTasks: Int
        var completedTasks: Int
        var throttleDecisions: [String: Int]
        var counters: Counters?
        var memoryUsedBytes: Int
        var keys: Int
        var bytesPerTask: Double
        var failuresByCode: [String: Int]
        var latency: [String: Latency]

        enum CodingKeys: String, CodingKey {
            case requests, keys, latency
            case failedRequests = "failed_requests"
            case failedTasks = "failed_tasks"
            case throttleDecisions = "throttle_decisions"
            case counters
            case completedTasks = "completed_tasks"
            case memoryUsedBytes = "memory_used_bytes"
            case bytesPerTask = "bytes_per_task"
            case failuresByCode = "failures_by_code"
        }

        init(_ r: IncidentReplay.Result, stats: CacheMemoryStats, counters: Counters? = nil) {
            requests = r.requests
            failedRequests = r.failedRequests
            failedTasks = r.failedTasks
            throttleDecisions = r.throttleDecisions
            self.counters = counters
            completedTasks = r.completedTasks
            memoryUsedBytes = stats.usedBytes
            keys = stats.keyCount
            // Memory per task whose keys were stored (the unguarded run stops storing at maxmemory).
            bytesPerTask = r.completedTasks > 0 ? (Double(stats.usedBytes) / Double(r.completedTasks) * 10).rounded() / 10 : 0
            failuresByCode = r.failuresByCode
            var l: [String: Latency] = [:]
            for op in r.latency.operations {
                l[op] = Latency(p50Us: (r.latency.percentile(op, 50) * 10).rounded() / 10, p99Us: (r.latency.percentile(op, 99) * 10).rounded() / 10)
            }
            latency = l
        }
    }

    var config: Config
    var unguarded: Run
    var guarded: Run
    var guardedFullCache: Run

    /// Guarded bytes per task as a percentage of unguarded, one decimal place.
    var bytesPerTaskPercent: Double {
        guard unguarded.bytesPerTask > 0 else { return 0 }
        return (guarded.bytesPerTask / unguarded.bytesPerTask * 1000).rounded() / 10
    }

    enum CodingKeys: String, CodingKey {
        case config, unguarded, guarded
        case guardedFullCache = "guarded_full_cache"
        case bytesPerTaskPercent = "guarded_bytes_per_task_percent_of_unguarded"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(unguarded, forKey: .unguarded)
        try c.encode(guarded, forKey: .guarded)
        try c.encode(guardedFullCache, forKey: .guardedFullCache)
        try c.encode(bytesPerTaskPercent, forKey: .bytesPerTaskPercent)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        let runs = [unguarded, guarded, guardedFullCache]
        func row(_ name: String, _ cells: [String]) -> String {
            name.padding(toLength: 36, withPad: " ", startingAt: 0) + cells.map { $0.leftPad(20) }.joined()
        }
        func row(_ name: String, _ value: (Run) -> String) -> String { row(name, runs.map(value)) }
        var lines: [String] = []
        lines.append("Incident replay on \(config.backend): \(config.tasks) upload requests, \(config.keyBytes)-byte payloads, maxmemory \(config.maxmemory) bytes, noeviction, \(config.concurrency) in flight, shape \(config.shape)")
        lines.append("A request fails (HTTP 500) when its throttle write throws; a task fails when its lock writes throw.")
        if config.backend.hasPrefix("Redis") {
            lines.append("Each run starts on an empty database with maxmemory = its used_memory + \(config.maxmemory); memory = INFO memory used_memory after - before.")
        }
        if let store = guarded.counters?.blobStore {
            lines.append("The guarded runs spill large values to the blob store \(store), and delete their blobs afterwards.")
        }
        lines.append("")
        lines.append(row("", ["unguarded", "guarded", "guarded, full cache"]))
        lines.append(row("requests") { "\($0.requests)" })
        lines.append(row("requests failed (500)") { "\($0.failedRequests)" })
        lines.append(row("tasks with lock keys stored") { "\($0.completedTasks)" })
        lines.append(row("tasks failed") { "\($0.failedTasks)" })
        lines.append(row("cache memory used (bytes)") { "\($0.memoryUsedBytes)" })
        lines.append(row("keys in cache") { "\($0.keys)" })
        lines.append(row("cache bytes per task") { String(format: "%.1f", $0.bytesPerTask) })
        lines.append(row("blobs (spilled values)") { $0.counters.map { "\($0.blobs)" } ?? "-" })
        lines.append(row("blob store bytes (spilled values)") { $0.counters.map { "\($0.blobBytes)" } ?? "-" })
        lines.append(row("throttle decisions degraded") { $0.counters.map { "\($0.throttleDegraded)" } ?? "-" })
        lines.append(row("writes shed (reported .dropped)") { $0.counters.map { "\($0.writesShed)" } ?? "-" })
        let ops = Set(runs.flatMap(\.latency.keys)).sorted()
        for op in ops {
            lines.append(row("\(op) p50/p99 µs") { r in r.latency[op].map { String(format: "%.0f / %.0f", $0.p50Us, $0.p99Us) } ?? "-" })
        }
        let codes = Set(runs.flatMap(\.failuresByCode.keys)).sorted()
        for code in codes {
            lines.append(row("failures: \(code)") { "\($0.failuresByCode[code] ?? 0)" })
        }
        lines.append("")
        lines.append(String(format: "Guarded bytes per task: %.1f%% of unguarded (%.1f%% less memory per task).", bytesPerTaskPercent, 100 - bytesPerTaskPercent))
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
