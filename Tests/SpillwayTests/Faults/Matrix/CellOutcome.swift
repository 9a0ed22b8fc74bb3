import Spillway

/// What a matrix cell promises the caller.
enum CellOutcome: Equatable, Sendable, CustomStringConvertible {
    /// The stored bytes come back, exactly.
    case value
    /// `nil`: a counted miss, never wrong bytes.
    case miss
    /// The write was acknowledged (`.stored`) and reads back.
    case stored
    /// The key was removed.
    case deleted
    /// The counter moved by one.
    case counted
    /// The write was dropped and reported as such; the previous value stays.
    case dropped(CacheError.Code)
    /// The typed error reached the caller; nothing changed.
    case error(CacheError.Code)
    /// The rate limiter decided on this path, and allowed the request.
    case limited(RateLimitPath)
    /// The operation does not exercise this fault.
    case notApplicable

    var description: String {
        switch self {
        case .value: "value"
        case .miss: "miss (counted)"
        case .stored: "stored"
        case .deleted: "deleted"
        case .counted: "counted"
        case .dropped(let code): "dropped(.\(code))"
        case .error(let code): "throws .\(code)"
        case .limited(let path): "limiter: \(path)"
        case .notApplicable: "n/a"
        }
    }
}

/// The promises: one outcome per cell, under the matrix policy (`onOOM: shed`, `onFailure`
/// busy/timeout/connection `shed`, `onReadFailure: miss` (the default), `spillAbove: 1024`,
/// throttle `onCacheFailure: local`).
/// FAULTS.md shows this table; ``FaultMatrixTests`` checks that it does.
enum FaultMatrixExpectations {
    static func outcome(_ fault: MatrixFault, _ operation: MatrixOperation) -> CellOutcome {
        switch fault {
        case .outOfMemory:
            return [
                .get: .value, .setSmall: .dropped(.outOfMemory), .setSpilled: .dropped(.outOfMemory), .delete: .deleted,
                .increment: .error(.outOfMemory), .rateLimit: .limited(.degradedLocal),
            ][operation]!
        case .loading, .busy:
            return failing(.busy, operation)
        case .timeout:
            return failing(.timeout, operation)
        case .connectionReset, .serverRestart:
            return failing(.connection, operation)
        case .latency:
            return [
                .get: .value, .setSmall: .stored, .setSpilled: .stored, .delete: .deleted, .increment: .counted,
                .rateLimit: .limited(.allowed),
            ][operation]!
        case .partialPipeline:
            return [.get: .miss, .setSmall: .dropped(.busy)][operation] ?? .notApplicable
        case .blobStoreUnavailable:
            // A spilled value whose store cannot answer is a miss (`onReadFailure: miss`),
            // counted in `spillway_reads_degraded_total{op="blob get"}`.
            return blobRow(get: .miss, setSpilled: .dropped(.blobStore), operation)
        case .blobStoreFull:
            return blobRow(get: .value, setSpilled: .dropped(.blobStore), operation)
        case .blobMissing, .blobCorrupted:
            return blobRow(get: .miss, setSpilled: .stored, operation)
        }
    }

    /// A failure on every command: shed by policy for writes that can report a drop, a counted
    /// miss for reads (`onReadFailure: miss`, the default).
    private static func failing(_ code: CacheError.Code, _ operation: MatrixOperation) -> CellOutcome {
        switch operation {
        case .get: .miss
        case .delete, .increment: .error(code)
        case .setSmall, .setSpilled: .dropped(code)
        case .rateLimit: .limited(.degradedLocal)
        }
    }

    /// A blob-store fault: only the spilled value's cells see it.
    private static func blobRow(get: CellOutcome, setSpilled: CellOutcome, _ operation: MatrixOperation) -> CellOutcome {
        switch operation {
        case .get: get
        case .setSmall: .stored
        case .setSpilled: setSpilled
        case .delete: .deleted
        case .increment: .counted
        case .rateLimit: .limited(.allowed)
        }
    }
}
