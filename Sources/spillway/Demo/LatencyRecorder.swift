/// Collects per-operation latencies and reports percentiles.
struct LatencyRecorder: Sendable {
    private(set) var samples: [String: [Duration]] = [:]

    mutating func record(_ op: String, _ d: Duration) { samples[op, default: []].append(d) }

    mutating func merge(_ other: LatencyRecorder) {
        for (k, v) in other.samples { samples[k, default: []] += v }
    }

    /// The `p`-th percentile (0...100) of an operation, in microseconds.
    func percentile(_ op: String, _ p: Double) -> Double {
        guard let s = samples[op], !s.isEmpty else { return 0 }
        let sorted = s.sorted()
        let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        let (secs, atto) = sorted[rank].components
        return Double(secs) * 1e6 + Double(atto) / 1e12
    }

    var operations: [String] { samples.keys.sorted() }
}
