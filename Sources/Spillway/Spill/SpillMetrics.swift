internal import Metrics

/// The metric labels of the spill, and one place that emits them.
///
/// Counters are created on the slow paths only (a spill, a miss, a corruption), never on the
/// path of a value that is not spilled.
@usableFromInline
struct SpillMetrics: Sendable {
    static let spilled = "spillway_values_spilled_total"
    static let spilledBytes = "spillway_spilled_bytes_total"
    static let blobMisses = "spillway_blob_misses_total"
    static let blobCorruption = "spillway_blob_corruption_total"
    static let blobForeign = "spillway_blob_foreign_total"
    static let blobUnknownStore = "spillway_blob_unknown_store_total"
    static let blobsReleased = "spillway_blobs_released_total"
    static let rollbacks = "spillway_spill_rollbacks_total"
    static let releaseFailures = "spillway_blob_release_failures_total"
    static let swept = "spillway_blobs_swept_total"
    static let sweptBytes = "spillway_blob_bytes_swept_total"

    let factory: (any MetricsFactory)?

    init(factory: (any MetricsFactory)?) { self.factory = factory }

    func increment(_ label: String, by amount: Int = 1, route: String?) {
        increment(label, by: amount, dimensions: [("route", route ?? "-")])
    }

    func increment(_ label: String, by amount: Int = 1, dimensions: [(String, String)]) {
        let counter: Counter
        if let factory {
            counter = Counter(label: label, dimensions: dimensions, factory: factory)
        } else {
            counter = Counter(label: label, dimensions: dimensions)
        }
        counter.increment(by: amount)
    }
}
