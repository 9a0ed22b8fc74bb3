public import NIOCore
public import Logging

/// The facade that callers use: a cache client wrapped in a middleware chain, with a policy
/// table resolved once per operation.
///
/// ```swift
/// let cache = GuardedCache(client: MemoryCache(maxMemory: 64 << 20), policies: table) {
///     KeyGuard(hasher: KeyHasher(secret: XXH3Secret(keyMaterial: deploymentSecret)))
///     LimitsGuard()
/// }
/// try await cache.set("session:42", value: bytes, expiry: .after(.seconds(60)))
/// ```
///
/// The route comes from the `route:` argument, or else from ``CacheRoute/current``.
public struct GuardedCache<Client: CacheClient, Chain: CacheMiddleware>: Sendable {
    /// The wrapped backend.
    public let client: Client
    /// The chain, outermost first.
    public let chain: Chain
    /// The policies.
    public let policies: PolicyTable
    /// The logger handed to middleware in each context.
    public let logger: Logger
    /// The timeout applied to operations that carry no deadline of their own (`nil`: none).
    public let defaultTimeout: Duration?
    /// Logger, table and the client's capabilities, shared by every operation's context.
    @usableFromInline let shared: CacheContext.Shared
    /// Why the cache refused to start (a middleware's ``CacheMiddleware/prepare(_:)`` threw), if it did.
    @usableFromInline let refusal: CacheError?

    /// Wraps a client in a chain.
    /// - Parameters:
    ///   - client: the backend.
    ///   - policies: the policy table.
    ///   - logger: the logger for middleware; defaults to one that discards.
    ///   - defaultTimeout: a deadline for operations whose caller gives none.
    ///   - chain: the middleware, in order.
    ///
    /// Each middleware checks its configuration here, once (``CacheMiddleware/prepare(_:)``):
    /// ``KeyGuard`` logs a warning and counts `spillway_key_hash_default_secret_total` when its
    /// hasher uses the public default key material. When a check fails (``PolicyTable/requireSecret``
    /// with that material) the cache refuses to start: ``checkStartup()`` and every operation
    /// throw the error, and nothing reaches the backend.
    public init(
        client: Client,
        policies: PolicyTable = PolicyTable(),
        logger: Logger = CacheContext.disabledLogger,
        defaultTimeout: Duration? = nil,
        @CacheMiddlewareBuilder chain: () -> Chain
    ) {
        self.client = client
        self.chain = chain()
        self.policies = policies
        self.logger = logger
        self.defaultTimeout = defaultTimeout
        self.shared = CacheContext.Shared(logger: logger, policies: policies, capabilities: client.capabilities)
        do {
            try self.chain.prepare(CacheStartup(logger: logger, policies: policies))
            self.refusal = nil
        } catch {
            self.refusal = error
        }
    }

    /// Throws the error that made this cache refuse to start, if any. Call it when the
    /// application starts, to fail there rather than at the first operation.
    /// - Throws: ``CacheError`` from a middleware's ``CacheMiddleware/prepare(_:)`` (for example
    ///   ``CacheError/Code/invalidArgument`` when ``PolicyTable/requireSecret`` is set and the
    ///   ``KeyGuard`` uses the default key material).
    public func checkStartup() throws(CacheError) {
        if let refusal { throw refusal }
    }

    /// Runs any operation through the chain.
    ///
    /// A `deadline` (or else the ``defaultTimeout``) is enforced: when it passes first, the
    /// operation is cancelled and this throws ``CacheError/Code/timeout``. Without either, no
    /// timer is started at all.
    /// - Throws: ``CacheError``.
    @inlinable
    public func execute(
        _ operation: CacheOperation, route: String? = nil, deadline: ContinuousClock.Instant?,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> CacheReply {
        try await run(operation, route: route, deadlineOffset: deadline.map { CacheContext.deadlineEpoch.duration(to: $0) }, file: file, line: line)
    }

    /// Runs any operation through the chain, with the ``defaultTimeout`` if there is one.
    ///
    /// The overload without a `deadline` parameter keeps the common call free of passing a
    /// `ContinuousClock.Instant?`, a resilient type whose every move is a runtime call.
    /// - Throws: ``CacheError``.
    @inlinable
    public func execute(
        _ operation: CacheOperation, route: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> CacheReply {
        try await run(operation, route: route, deadlineOffset: nil, file: file, line: line)
    }

    /// The shared path of ``execute(_:route:deadline:file:line:)`` and the typed helpers, which
    /// take no deadline and so never handle a (resilient, costly to pass) `Instant?`.
    @inlinable
    func run(
        _ operation: CacheOperation, route: String?, deadlineOffset: Duration?, file: StaticString, line: UInt
    ) async throws(CacheError) -> CacheReply {
        if let refusal { throw refusal }
        let route = route ?? CacheRoute.current
        var deadlineOffset = deadlineOffset
        if deadlineOffset == nil, let defaultTimeout {
            deadlineOffset = CacheContext.deadlineEpoch.duration(to: .now) + defaultTimeout
        }
        let context = CacheContext(
            route: route,
            callSite: CallSite(fileID: file, line: line),
            deadlineOffset: deadlineOffset,
            shared: shared,
            resolved: policies.resolved(route: route, operation: operation)
        )
        if deadlineOffset != nil { return try await handleBeforeDeadline(operation, context: context) }
        return try await handle(operation, context: context)
    }

    /// The path with a deadline, kept out of line so that its task group does not grow the
    /// async frame of every operation that has none.
    @inlinable
    @inline(never)
    func handleBeforeDeadline(_ operation: CacheOperation, context: CacheContext) async throws(CacheError) -> CacheReply {
        try await DeadlineEnforcement.run(until: context.deadline!) { [self] () async throws(CacheError) -> CacheReply in
            try await handle(operation, context: context)
        }
    }

    @inlinable
    func handle(_ operation: CacheOperation, context: CacheContext) async throws(CacheError) -> CacheReply {
        let client = self.client
        return try await chain.handle(operation, context: context) { (op: CacheOperation, _: CacheContext) async throws(CacheError) -> CacheReply in
            try await client.execute(op)
        }
    }

    // MARK: Typed helpers

    /// Reads a key; `nil` is a miss.
    /// - Throws: ``CacheError``.
    @inlinable
    public func get(_ key: CacheKey, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> ByteBuffer? {
        let reply = try await run(.get(key), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .value(let v) = reply else { throw Self.unexpected(reply, "get") }
        return v
    }

    /// Writes a key.
    /// - Returns: what happened to the write (stored, condition not met, dropped, kept locally).
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func set(
        _ key: CacheKey, value: ByteBuffer, expiry: Expiry = .none, condition: SetOptions.Condition = .always,
        route: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> WriteOutcome {
        try await set(key, value: value, options: SetOptions(expiry: expiry, condition: condition), route: route, file: file, line: line).outcome
    }

    /// Writes a key with full options (including `returnPrevious`).
    /// - Throws: ``CacheError``.
    @inlinable
    public func set(
        _ key: CacheKey, value: ByteBuffer, options: SetOptions, route: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> WriteResult {
        let reply = try await run(.set(key, value, options), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .write(let w) = reply else { throw Self.unexpected(reply, "set") }
        return w
    }

    /// Deletes a key.
    /// - Returns: whether a key was removed.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func delete(_ key: CacheKey, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await run(.delete(key), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .count(let n) = reply else { throw Self.unexpected(reply, "delete") }
        return n > 0
    }

    /// Whether a key exists.
    /// - Throws: ``CacheError``.
    @inlinable
    public func exists(_ key: CacheKey, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await run(.exists(key), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .bool(let b) = reply else { throw Self.unexpected(reply, "exists") }
        return b
    }

    /// Adds to a counter, applying `ttlOnCreate` when it is created.
    /// - Returns: the new value.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func increment(
        _ key: CacheKey, by: Int64 = 1, ttlOnCreate: Duration? = nil, route: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> Int64 {
        let reply = try await run(.increment(key, by: by, ttlOnCreate: ttlOnCreate), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .integer(let n) = reply else { throw Self.unexpected(reply, "increment") }
        return n
    }

    /// Sets a key's TTL.
    /// - Returns: whether the key existed.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func expire(_ key: CacheKey, ttl: Duration, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await run(.expire(key, ttl: ttl), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .bool(let b) = reply else { throw Self.unexpected(reply, "expire") }
        return b
    }

    /// Reads several keys.
    /// - Throws: ``CacheError``.
    @inlinable
    public func mget(_ keys: [CacheKey], route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> [ByteBuffer?] {
        let reply = try await run(.mget(keys), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .values(let v) = reply, v.count == keys.count else { throw Self.unexpected(reply, "mget") }
        return v
    }

    /// Writes several keys with one optional TTL.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func mset(_ pairs: [KeyValue], ttl: Duration? = nil, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> WriteOutcome {
        let reply = try await run(.mset(pairs, ttl: ttl), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .write(let w) = reply else { throw Self.unexpected(reply, "mset") }
        return w.outcome
    }

    /// One GCRA step on a key.
    /// - Throws: ``CacheError``.
    @inlinable
    public func throttle(_ key: CacheKey, _ parameters: GCRAParameters, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> GCRADecision {
        let reply = try await run(.throttle(key, parameters), route: route, deadlineOffset: nil, file: file, line: line)
        guard case .throttle(let d) = reply else { throw Self.unexpected(reply, "throttle") }
        return d
    }

    @usableFromInline
    static func unexpected(_ reply: CacheReply, _ op: String) -> CacheError {
        CacheError(.protocolError, "unexpected reply \(reply) to \(op)")
    }
}
