import Foundation
import Spillway

/// The demo's figures, printed as a table or as JSON with stable field names.
struct DemoReport: Encodable {
    struct Config: Encodable {
        var maxmemory: Int
        var tasks: Int
        var keyBytes: Int
        var concurrency: Int
        var clients: Int
        var shape: String

        enum CodingKeys: String, CodingKey {
            case maxmemory, tasks, concurrency, clients, shape
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

    struct Run: Encodable {
        var requests: Int
        var failedRequests: Int
        var completedTasks: Int
        var memoryUsedBytes: Int
        var keys: Int
        var bytesPerTask: Double
        var failuresByCode: [String: Int]
        var latency: [String: Latency]

        enum CodingKeys: String, CodingKey {
            case requests, keys, latency
            case failedRequests = "failed_requests"
            case completedTasks = "completed_tasks"
            case memoryUsedBytes = "memory_used_bytes"
            case bytesPerTask = "bytes_per_task"
            case failuresByCode = "failures_by_code"
        }

        init(_ r: IncidentReplay.Result, stats: CacheMemoryStats) {
            requests = r.requests
            failedRequests = r.failedRequests
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

    /// Guarded bytes per task as a percentage of unguarded, one decimal place.
    var bytesPerTaskPercent: Double {
        guard unguarded.bytesPerTask > 0 else { return 0 }
        return (guarded.bytesPerTask / unguarded.bytesPerTask * 1000).rounded() / 10
    }

    enum CodingKeys: String, CodingKey {
        case config, unguarded, guarded
        case bytesPerTaskPercent = "guarded_bytes_per_task_percent_of_unguarded"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(unguarded, forKey: .unguarded)
        try c.encode(guarded, forKey: .guarded)
        try c.encode(bytesPerTaskPercent, forKey: .bytesPerTaskPercent)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        func row(_ name: String, _ a: String, _ b: String) -> String {
            name.padding(toLength: 36, withPad: " ", startingAt: 0) + a.leftPad(22) + b.leftPad(22)
        }
        var lines: [String] = []
        lines.append("Incident replay on MemoryCache: \(config.tasks) upload requests, \(config.keyBytes)-byte payload keys, maxmemory \(config.maxmemory) bytes, noeviction, \(config.concurrency) in flight, shape \(config.shape)")
        lines.append("")
        lines.append(row("", "unguarded", "guarded"))
        lines.append(row("requests", "\(unguarded.requests)", "\(guarded.requests)"))
        lines.append(row("requests failed", "\(unguarded.failedRequests)", "\(guarded.failedRequests)"))
        lines.append(row("tasks completed", "\(unguarded.completedTasks)", "\(guarded.completedTasks)"))
        lines.append(row("cache memory used (bytes)", "\(unguarded.memoryUsedBytes)", "\(guarded.memoryUsedBytes)"))
        lines.append(row("keys in cache", "\(unguarded.keys)", "\(guarded.keys)"))
        lines.append(row("bytes per task", String(format: "%.1f", unguarded.bytesPerTask), String(format: "%.1f", guarded.bytesPerTask)))
        let ops = Set(unguarded.latency.keys).union(guarded.latency.keys).sorted()
        for op in ops {
            let u = unguarded.latency[op]
            let g = guarded.latency[op]
            lines.append(row("\(op) p50 / p99 (µs)", u.map { String(format: "%.1f / %.1f", $0.p50Us, $0.p99Us) } ?? "-", g.map { String(format: "%.1f / %.1f", $0.p50Us, $0.p99Us) } ?? "-"))
        }
        for (code, n) in unguarded.failuresByCode.sorted(by: { $0.key < $1.key }) {
            lines.append(row("unguarded failures: \(code)", "\(n)", ""))
        }
        for (code, n) in guarded.failuresByCode.sorted(by: { $0.key < $1.key }) {
            lines.append(row("guarded failures: \(code)", "", "\(n)"))
        }
        lines.append("")
        lines.append(String(format: "Guarded bytes per task: %.1f%% of unguarded (%.1f%% less memory per task).", bytesPerTaskPercent, 100 - bytesPerTaskPercent))
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
