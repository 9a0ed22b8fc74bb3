import Logging
import Metrics
import Synchronization

/// Requests whose client could not be identified: counted, and logged once, so that a shared
/// bucket is never silent.
final class UnidentifiedClients: Sendable {
    /// The rate-limit client name of every unidentified request.
    static let bucket = "unidentified"

    private let warned = Atomic<Bool>(false)
    private let counter = Counter(label: "spillway_ratelimit_unidentified_total")

    /// Counts one unidentified request; the first one is logged at warning.
    func record(route: String, logger: Logger) {
        counter.increment()
        if !warned.exchange(true, ordering: .relaxed) {
            logger.warning(
                "rate limit: a request has no client identity (no peer address, and identify returned nil); such requests share one bucket",
                metadata: ["route": .string(route)]
            )
        }
    }
}
