public import Logging
public import ServiceLifecycle
internal import NIOCore
public import Metrics

/// A background service that keeps the blob store from filling with blobs nobody points at.
///
/// Each pass first asks the store to delete expired blobs in bounded batches of ``batchSize``
/// (``BlobStore/removeExpired(before:limit:)``, where the store has an index of expiries, as
/// `PostgresBlobStore` does), then lists the store in pages of at most ``batchSize`` blobs and
/// deletes:
/// - blobs whose expiry (the key's TTL plus grace) has passed;
/// - blobs older than ``minimumAge`` whose owner key (recorded at spill time, as the backend
///   sees it) no longer holds a pointer to them: the key was evicted, expired, deleted, or
///   overwritten by a client that does not know Spillway. The owner keys of a page are read with
///   one `mget` straight from the client.
///
/// The minimum age protects blobs whose pointer write is still in flight. Between passes, the
/// orphaned bytes are bounded by what was spilled and orphaned in one ``interval`` plus
/// ``minimumAge``; see `docs/SPILL.md`.
///
/// Run it in a `ServiceGroup`; ``run()`` sleeps on the injected clock and stops on cancellation
/// or graceful shutdown. Tests call ``sweepOnce()``.
public struct BlobSweeper<Store: BlobStore, Client: CacheClient, C: Clock>: Service where C.Duration == Duration {
    /// The blob store to sweep.
    public let store: Store
    /// The backend whose keys own the blobs (the raw client, not the guarded facade).
    public let client: Client
    /// Time between passes.
    public let interval: Duration
    /// Most blobs handled per page (one listing, one `mget`).
    public let batchSize: Int
    /// Blobs younger than this are never deleted as orphans.
    public let minimumAge: Duration
    /// The clock passes sleep on.
    public let clock: C
    /// The wall clock that expiries are compared with.
    public let blobClock: BlobClock
    /// Where passes are logged.
    public let logger: Logger
    let onReport: (@Sendable (SweepReport) -> Void)?
    /// Temporary files of interrupted writes are removed once older than this (or
    /// ``minimumAge``, if longer), by the real clock.
    public static var staleWriteAge: Duration { .seconds(600) }
    let metrics: SpillMetrics

    /// Creates a sweeper.
    /// - Parameters:
    ///   - store: the blob store.
    ///   - client: the backend holding the pointers (without the middleware chain).
    ///   - interval: time between passes.
    ///   - batchSize: most blobs per page.
    ///   - minimumAge: blobs younger than this are not reconciled against their key.
    ///   - clock: the clock to sleep on.
    ///   - blobClock: the wall clock for expiries.
    ///   - logger: where each pass is logged.
    ///   - metricsFactory: the metrics factory; `nil` uses the global one.
    ///   - onReport: called after each pass of ``run()``.
    public init(
        store: Store, client: Client, interval: Duration = .seconds(60), batchSize: Int = 256,
        minimumAge: Duration = .seconds(60), clock: C, blobClock: BlobClock = .system,
        logger: Logger = CacheContext.disabledLogger, metricsFactory: (any MetricsFactory)? = nil,
        onReport: (@Sendable (SweepReport) -> Void)? = nil
    ) {
        self.store = store
        self.client = client
        self.interval = interval
        self.batchSize = max(1, batchSize)
        self.minimumAge = minimumAge
        self.clock = clock
        self.blobClock = blobClock
        self.logger = logger
        self.onReport = onReport
        self.metrics = SpillMetrics(factory: metricsFactory)
    }

    /// Sweeps every ``interval`` until cancelled or asked to shut down gracefully. A pass that
    /// fails is logged and retried at the next interval.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await clock.sleep(for: interval)
                try Task.checkCancellation()
                do {
                    let report = try await sweepOnce()
                    onReport?(report)
                } catch {
                    logger.error("blob sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// One full pass over the store, in pages of ``batchSize``.
    /// - Returns: what was examined and reclaimed.
    /// - Throws: `.blobStore` when the store cannot be listed. Failed deletes and key reads are
    ///   counted in ``SweepReport/failures`` instead.
    @discardableResult
    public func sweepOnce() async throws(CacheError) -> SweepReport {
        var report = SweepReport()
        while let removed = try await store.removeExpired(before: blobClock.now(), limit: batchSize) {
            report.batches += 1
            report.expired += removed.count
            report.bytesReclaimed += removed.bytes
            if removed.count > 0 {
                metrics.increment(SpillMetrics.swept, by: removed.count, dimensions: [("reason", "expired")])
                metrics.increment(SpillMetrics.sweptBytes, by: removed.bytes, dimensions: [("reason", "expired")])
            }
            if removed.count < batchSize { break }
        }
        var cursor: BlobID?
        repeat {
            let page = try await store.scan(after: cursor, limit: batchSize)
            report.batches += 1
            let now = blobClock.now()
            var candidates: [BlobInfo] = []
            for info in page.blobs {
                report.examined += 1
                if let expiresAt = info.metadata.expiresAt, expiresAt <= now {
                    await delete(info, reason: "expired", &report)
                } else if info.metadata.createdAt.advanced(by: minimumAge) > now {
                    report.tooYoung += 1
                } else if info.metadata.ownerKey != nil {
                    candidates.append(info)
                }
            }
            if !candidates.isEmpty { await reconcile(candidates, &report) }
            cursor = page.next
        } while cursor != nil
        do {
            report.staleWritesRemoved = try await store.removeStaleWrites(olderThan: max(minimumAge, Self.staleWriteAge))
        } catch {
            report.failures += 1
            logger.warning("blob sweep: could not remove stale writes", metadata: ["error": "\(error)"])
        }
        if report.deleted > 0 {
            logger.info("blob sweep reclaimed blobs", metadata: ["report": "\(report)"])
        } else {
            logger.debug("blob sweep found nothing to reclaim", metadata: ["report": "\(report)"])
        }
        return report
    }

    /// Deletes the candidates whose owner key does not point at them.
    func reconcile(_ candidates: [BlobInfo], _ report: inout SweepReport) async {
        let keys = candidates.map { $0.metadata.ownerKey! }
        let values: [ByteBuffer?]
        do {
            guard case .values(let v) = try await client.execute(.mget(keys)), v.count == keys.count else {
                report.failures += candidates.count
                logger.warning("blob sweep: unexpected reply to mget of owner keys")
                return
            }
            values = v
        } catch {
            report.failures += candidates.count
            logger.warning("blob sweep: could not read owner keys", metadata: ["error": "\(error)"])
            return
        }
        for (info, value) in zip(candidates, values) {
            if let value, SpillEnvelope.mayBeEnvelope(value), case .pointer(let pointer) = SpillEnvelope.decode(value),
                pointer.id == info.id, pointer.storeName == store.name
            {
                continue
            }
            await delete(info, reason: "orphaned", &report)
        }
    }

    func delete(_ info: BlobInfo, reason: String, _ report: inout SweepReport) async {
        do {
            guard try await store.delete(info.id) else { return }
            if reason == "expired" { report.expired += 1 } else { report.orphaned += 1 }
            report.bytesReclaimed += info.length
            metrics.increment(SpillMetrics.swept, dimensions: [("reason", reason)])
            metrics.increment(SpillMetrics.sweptBytes, by: info.length, dimensions: [("reason", reason)])
        } catch {
            report.failures += 1
            logger.warning("blob sweep: could not delete a blob", metadata: ["blob": "\(info.id)", "error": "\(error)"])
        }
    }
}

extension BlobSweeper where C == ContinuousClock {
    /// Creates a sweeper on the continuous clock and the system wall clock.
    /// - Parameters:
    ///   - store: the blob store.
    ///   - client: the backend holding the pointers (without the middleware chain).
    ///   - interval: time between passes.
    ///   - batchSize: most blobs per page.
    ///   - minimumAge: blobs younger than this are not reconciled against their key.
    ///   - logger: where each pass is logged.
    public init(
        store: Store, client: Client, interval: Duration = .seconds(60), batchSize: Int = 256,
        minimumAge: Duration = .seconds(60), logger: Logger = CacheContext.disabledLogger
    ) {
        self.init(store: store, client: client, interval: interval, batchSize: batchSize, minimumAge: minimumAge, clock: ContinuousClock(), logger: logger)
    }
}
