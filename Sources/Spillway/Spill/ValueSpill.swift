public import NIOCore
public import Metrics
internal import Logging

/// Moves values above the policy's `spillAbove` out of the cache into a ``BlobStore``, leaving a
/// small verified pointer (``SpillPointer``) in their place, and resolves pointers on reads.
///
/// Put it after the key guard and the limits guard, so that the keys it records are the keys the
/// backend sees and oversized values are already refused:
///
/// ```swift
/// let cache = GuardedCache(client: client, policies: table) {
///     KeyGuard()
///     LimitsGuard()
///     ValueSpill(store: try FileBlobStore(root: "/var/cache/app/blobs"))
/// }
/// ```
///
/// - **set**: a value of more than `spillAbove` bytes is written to the store (expiry: the key's
///   TTL plus ``grace``), then its pointer is written. If the pointer write throws, or comes back
///   with any outcome but `.stored` (dropped, kept locally, condition not met), the new blob is
///   deleted before the error or the outcome is returned. A value at or under the threshold is
///   written as it is, escaped if it starts with the envelope magic (see ``SpillEnvelope``).
///   When the store cannot take the value (full, over quota, read-only, unreachable: a
///   ``FailureClass/storage`` failure), the route's ladder decides, as for out-of-memory
///   (`onFailure[.storage] ?? onOOM`): by default the write is `.dropped(.blobStore)`, never thrown,
///   and the value an unconditional write meant to replace is deleted (best effort, its blob
///   released), so that no reader gets it back.
/// - **overwrite, delete and expire** find the key's old pointer atomically with the write, in
///   one round trip, without pulling old values over the wire: on a backend with
///   ``CacheCapabilities/returnsPreviousHead`` they ask for only the first
///   ``previousHeadBytes`` bytes of the old value (`set` with ``SetOptions/previousHeadBytes``,
///   ``CacheOperation/deleteReturningHead(_:headBytes:)``,
///   ``CacheOperation/expireReturningHead(_:ttl:headBytes:)``,
///   ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``). Otherwise overwrites use
///   `SET … GET` when the backend has it (``CacheCapabilities/atomicSetReturningPrevious``),
///   else a read first; deletes and `mset`s read the keys first, and expires read after. An overwrite or
///   delete that replaced a pointer releases its blob; an expire moves the blob's expiry (or
///   releases it when the TTL removed the key).
/// - **get / mget** resolve pointers and verify the content's length and XXH3-128. A missing blob
///   is a miss (`spillway_blob_misses_total`); a blob that fails verification, or a pointer that
///   does not decode, is a miss counted as corruption (`spillway_blob_corruption_total`) and
///   logged at error level. Wrong bytes are never returned.
/// - **pointers are bound to their key**: each carries a digest of the final key keyed with the
///   deployment ``secret`` (the one your `KeyHasher` uses), checked on every read. A pointer
///   copied under another key (or written with another secret) is a miss counted as *foreign*
///   (`spillway_blob_foreign_total`, ``SpillStats``), never another key's bytes, and is never
///   released by a write to the key it was copied to. The content digest is keyed too.
///
/// - **several stores, one writer**: pointers name their store. New values go to ``store``;
///   pointers naming one of ``readStores`` (say the old `FileBlobStore` while a deployment moves
///   to Postgres or S3) are read, released and re-timed there, so a move needs no flag day. A
///   pointer naming a store this instance has neither as ``store`` nor among ``readStores`` is a
///   miss counted as *unknown store* (`spillway_blob_unknown_store_total`, ``SpillStats``) and
///   logged once per store name.
///
/// A value that is not spilled costs a size check and a one-byte peek; nothing is allocated.
public struct ValueSpill<Store: BlobStore>: CacheMiddleware {
    /// Where spilled values go.
    public let store: Store
    /// Stores that are only read (and whose blobs are released when their keys change): pointers
    /// written before a move to ``store``. Their names differ from ``store``'s and each other's.
    public let readStores: [any BlobStore]
    @usableFromInline let unknownStores: UnknownStoreLog
    /// How long a blob outlives its key's TTL.
    public let grace: Duration
    /// The wall clock for expiries.
    public let clock: BlobClock
    /// The deployment secret the content and key digests are keyed with.
    public let secret: XXH3Secret
    /// What reads found: misses, corruption, foreign pointers.
    public let stats: SpillStats
    @usableFromInline let metrics: SpillMetrics
    /// The secret of key digests: derived from ``secret``, so a key digest never equals a content
    /// digest of the same bytes.
    @usableFromInline let keySecret: XXH3Secret

    /// The digest that binds a pointer to `key` (the final key, as the backend sees it).
    @usableFromInline
    func keyDigest(_ key: CacheKey) -> XXH128Digest {
        XXH3.hash128(key.bytes, secret: keySecret)
    }

    /// How many leading bytes of an old value the spill asks for to recognise a pointer: one
    /// more than the largest pointer, so a longer value's head never decodes as one.
    public static var previousHeadBytes: Int { SpillPointer.maxEncodedSize + 1 }

    /// Creates the middleware.
    /// - Parameters:
    ///   - store: the blob store new values are written to; its name must be 1 to 255 UTF-8 bytes.
    ///   - readStores: more stores whose pointers are read (and whose blobs are released or
    ///     re-timed when their keys are overwritten, deleted or expired), never written to: the
    ///     old store while a deployment moves to a new one.
    ///   - grace: how long a blob outlives its key's TTL (default five minutes), so that clock
    ///     skew between the cache and the store never removes a blob a live key points at.
    ///   - clock: the wall clock for expiries (``BlobClock/system``, or one on a manual clock).
    ///   - secret: the deployment secret, as given to `KeyHasher` (the default is the public
    ///     default key material: set your own). Every instance that reads a pointer needs the
    ///     secret it was written with.
    ///   - stats: the counters to update (pass one to share it).
    ///   - metricsFactory: the metrics factory to use; `nil` uses the global one.
    /// - Precondition: every store's name fits the envelope, no two stores share a name, and
    ///   `grace` is not negative.
    public init(
        store: Store, readStores: [any BlobStore] = [], grace: Duration = .seconds(300), clock: BlobClock = .system,
        secret: XXH3Secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial), stats: SpillStats = SpillStats(),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(SpillPointer.isValidStoreName(store.name), "a blob store's name must be 1...255 UTF-8 bytes")
        precondition(grace >= .zero, "grace must not be negative")
        let names = [store.name] + readStores.map(\.name)
        precondition(readStores.allSatisfy { SpillPointer.isValidStoreName($0.name) }, "a blob store's name must be 1...255 UTF-8 bytes")
        precondition(Set(names).count == names.count, "blob stores read by one ValueSpill must have distinct names: \(names)")
        self.store = store
        self.readStores = readStores
        self.unknownStores = UnknownStoreLog()
        self.grace = grace
        self.clock = clock
        self.secret = secret
        self.keySecret = XXH3Secret(keyMaterial: secret.bytes + Array("spillway/spill-pointer-key".utf8))
        self.stats = stats
        self.metrics = SpillMetrics(factory: metricsFactory)
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch operation {
        case .get(let key):
            let reply = try await next(operation, context)
            if case .value(let value?) = reply, SpillEnvelope.mayBeEnvelope(value) {
                return .value(try await resolve(value, key: key, context))
            }
            return reply
        case .mget(let keys):
            let reply = try await next(operation, context)
            if case .values(let values) = reply, values.contains(where: { $0.map(SpillEnvelope.mayBeEnvelope) ?? false }) {
                return .values(try await resolveAll(values, keys: keys, context))
            }
            return reply
        case .set(let key, let value, let options):
            if let limit = context.policy.spillAbove, value.readableBytes > limit {
                return try await spillSet(key, value, options, context, next)
            }
            let stored = SpillEnvelope.storedForm(ofRaw: value)
            guard let asked = Self.askingForPrevious(options, context.capabilities) else {
                return try await setReadingFirst(key, stored, options, newBlob: nil, context, next)
            }
            let reply = try await next(.set(key, stored, asked), context)
            guard case .write(let result) = reply else { return reply }
            if let previous = result.previous, SpillEnvelope.mayBeEnvelope(previous) {
                return .write(await afterOverwrite(result, old: previous, options: options, key: key, context))
            }
            return options.returnPrevious ? reply : .write(WriteResult(result.outcome))
        case .delete(let key):
            return try await delete(key, context, next)
        case .mset(let pairs, let ttl):
            return try await mset(pairs, ttl: ttl, callerHeadBytes: nil, context, next)
        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            return try await mset(pairs, ttl: ttl, callerHeadBytes: headBytes, context, next)
        case .expire(let key, let ttl):
            return try await expire(key, ttl: ttl, context, next)
        case .deleteReturningHead(let key, let headBytes):
            return try await headed(operation: .deleteReturningHead(key, headBytes: Self.headBytes(covering: headBytes)), key: key, ttl: nil, headBytes: headBytes, context, next)
        case .expireReturningHead(let key, let ttl, let headBytes):
            return try await headed(operation: .expireReturningHead(key, ttl: ttl, headBytes: Self.headBytes(covering: headBytes)), key: key, ttl: ttl, headBytes: headBytes, context, next)
        case .exists, .increment, .throttle:
            return try await next(operation, context)
        }
    }

    /// The options a `set` goes down with so that its reply says what the key held: only the
    /// head of the old value where the backend can, else all of it (`SET … GET`); `nil` when the
    /// backend cannot return it atomically (the old value is then read first).
    @inlinable
    static func askingForPrevious(_ options: SetOptions, _ capabilities: CacheCapabilities) -> SetOptions? {
        guard capabilities.returnsPreviousHead || capabilities.atomicSetReturningPrevious else { return nil }
        var asked = options
        if !options.returnPrevious {
            asked.returnPrevious = true
            asked.previousHeadBytes = capabilities.returnsPreviousHead ? previousHeadBytes : nil
        } else if let limit = options.previousHeadBytes {
            asked.previousHeadBytes = headBytes(covering: limit)
        }
        return asked
    }

    /// How many bytes to ask for so that both a pointer and `limit` bytes of an escaped value fit.
    @inlinable
    static func headBytes(covering limit: Int) -> Int {
        let (sum, overflow) = max(limit, 0).addingReportingOverflow(SpillEnvelope.magic.count + 1)
        return overflow ? Int.max : max(sum, previousHeadBytes)
    }
}
