public import Spillway

/// One fault that a ``FaultInjector`` can inject into an operation.
///
/// Error faults carry the exact code and text a real Redis (or a real client) produces, so that
/// code under test cannot tell an injected failure from a real one:
///
/// | fault | code | message |
/// |---|---|---|
/// | ``outOfMemory`` | `.outOfMemory` | ``CacheError/redisOOMMessage`` |
/// | ``loading`` | `.busy` | ``loadingMessage`` |
/// | ``busy`` | `.busy` | ``busyMessage`` |
/// | ``timeout(after:executed:)`` | `.timeout` | ``timeoutMessage`` |
/// | ``connectionReset(executed:)`` | `.connection` | ``connectionResetMessage`` |
///
/// Latency faults (``latency(_:)``, ``jitter(_:_:)``) delay the operation on the injector's
/// clock and then let it through; they combine with an error fault from another rule.
///
/// ``partialPipeline(reply:failingWith:)`` applies to `mget` and `mset` only. `CacheReply` has no
/// slot for a per-key error, so a failed reply fails the whole call, as a client that pipelines
/// the batch and reports its first error does:
/// - `mset`: every other pair is written to the backend (they were in the pipeline), then the
///   call throws the inner fault's error, its message prefixed with `reply n of m:`. The caller
///   got no acknowledgement, so it must not assume any pair was stored, nor that none was.
/// - `mget`: the read runs, then the call throws. No partial result reaches the caller, so no
///   value can be attributed to the wrong key.
/// A batch with `n` or fewer keys is not in scope of the rule, and nothing is injected.
public indirect enum Fault: Sendable, Hashable, CustomStringConvertible {
    /// Redis at `maxmemory` refusing a write: `.outOfMemory` with Redis's exact text.
    case outOfMemory
    /// Redis loading its dataset after a restart: `.busy`, `LOADING …`.
    case loading
    /// Redis busy running a script: `.busy`, `BUSY …`.
    case busy
    /// No reply before the deadline: waits `after` on the injector's clock, then throws
    /// `.timeout`. With `executed: true` the operation first reaches the backend (the server ran
    /// it; the reply was lost), which is the ambiguous case a caller cannot tell apart.
    case timeout(after: Duration, executed: Bool = false)
    /// The connection reset by the peer: `.connection`. With `executed: true` the operation
    /// first reaches the backend (the reset came after the server ran it).
    case connectionReset(executed: Bool = false)
    /// A fixed delay on the injector's clock before the operation goes on.
    case latency(Duration)
    /// A delay drawn uniformly from `low ... high` with the rule's seeded generator.
    case jitter(Duration, Duration)
    /// Reply `reply` (0-based) of an `mget`/`mset` batch fails with `failingWith`, which must be
    /// an error fault (not latency, not another partial failure).
    case partialPipeline(reply: Int, failingWith: Fault = .outOfMemory)
    /// Any other error, with a code and text of your choice (a blob store that is down, say).
    case error(CacheError.Code, String)

    /// Redis's text for a command refused while it loads its dataset.
    public static let loadingMessage = "LOADING Redis is loading the dataset in memory"
    /// Redis's text for a command refused while a script runs too long.
    public static let busyMessage = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    /// The text of an injected timeout.
    public static let timeoutMessage = "timed out waiting for the reply"
    /// The text of an injected connection reset (the operating system's `ECONNRESET` text).
    public static let connectionResetMessage = "Connection reset by peer"

    /// Whether the fault only delays (``latency(_:)`` or ``jitter(_:_:)``).
    public var isDelay: Bool {
        switch self {
        case .latency, .jitter: true
        default: false
        }
    }

    /// Whether the fault can be the inner fault of ``partialPipeline(reply:failingWith:)``.
    public var isError: Bool {
        switch self {
        case .latency, .jitter, .partialPipeline: false
        default: true
        }
    }

    /// The error this fault throws, or `nil` for a delay.
    public var error: CacheError? {
        switch self {
        case .outOfMemory: CacheError(.outOfMemory, CacheError.redisOOMMessage)
        case .loading: CacheError(.busy, Fault.loadingMessage)
        case .busy: CacheError(.busy, Fault.busyMessage)
        case .timeout: CacheError(.timeout, Fault.timeoutMessage)
        case .connectionReset: CacheError(.connection, Fault.connectionResetMessage)
        case .latency, .jitter: nil
        case .partialPipeline(_, let inner): inner.error
        case .error(let code, let message): CacheError(code, message)
        }
    }

    public var description: String {
        switch self {
        case .outOfMemory: "outOfMemory"
        case .loading: "loading"
        case .busy: "busy"
        case .timeout(let after, let executed): "timeout(after: \(after)\(executed ? ", executed" : ""))"
        case .connectionReset(let executed): "connectionReset\(executed ? "(executed)" : "")"
        case .latency(let d): "latency(\(d))"
        case .jitter(let lo, let hi): "jitter(\(lo)...\(hi))"
        case .partialPipeline(let n, let inner): "partialPipeline(reply: \(n), \(inner))"
        case .error(let code, let message): "error(\(code), \(message))"
        }
    }
}
