import Testing
/// The rows of the fault matrix: the faults a cell is run under.
enum MatrixFault: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Redis at maxmemory: writes refused with `-OOM` (reads and deletes served).
    case outOfMemory
    /// `-LOADING` on every command.
    case loading
    /// `-BUSY` on every command.
    case busy
    /// No reply within 1 s (the command did not run).
    case timeout
    /// The connection reset before the reply (the command did not run).
    case connectionReset
    /// 50 ms of latency on every command.
    case latency
    /// Reply 1 of a batch fails with `-LOADING` (GET column: `mget`; SET small column: `mset`).
    case partialPipeline
    /// `redis-server` stopped (SIGTERM) during the operation, then started again on the same
    /// port with its append-only file (`appendfsync always`). Real server only.
    case serverRestart
    /// The blob store cannot be reached at all.
    case blobStoreUnavailable
    /// The blob store refuses new blobs (no space left).
    case blobStoreFull
    /// The spilled key's blob was removed behind Spillway's back.
    case blobMissing
    /// The spilled key's blob has a flipped byte.
    case blobCorrupted

    var testDescription: String { rawValue }

    /// Whether the row runs on a backend.
    func applies(to backend: TestBackend) -> Bool {
        self == .serverRestart ? backend == .redis : true
    }

    /// Whether the row fails the backend's transport (every command, or a batch): its reads
    /// are counted misses under `onReadFailure: miss`.
    var isTransport: Bool {
        switch self {
        case .loading, .busy, .timeout, .connectionReset, .partialPipeline, .serverRestart: true
        default: false
        }
    }

    /// Whether the row is about the blob store (its GET and DEL cells use the spilled key).
    var isBlobRow: Bool {
        switch self {
        case .blobStoreUnavailable, .blobStoreFull, .blobMissing, .blobCorrupted: true
        default: false
        }
    }
}

/// The columns of the fault matrix: what the caller does.
enum MatrixOperation: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// A read (of the spilled key in blob rows; an `mget` in the partial-pipeline row).
    case get
    /// A small write (an `mset` in the partial-pipeline row).
    case setSmall
    /// A write above `spillAbove`, so it goes to the blob store.
    case setSpilled
    /// A delete (of the spilled key in blob rows).
    case delete
    /// A counter step.
    case increment
    /// A rate-limit decision through ``RateLimiter`` (policy `onCacheFailure: local`).
    case rateLimit

    var testDescription: String { rawValue }
}
