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
/// try await cache.set("session:42", value: bytes, ttl: .seconds(60))
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

    /// Wraps a client in a chain.
    /// - Parameters:
    ///   - client: the backend.
    ///   - policies: the policy table.
    ///   - logger: the logger for middleware; defaults to one that discards.
    ///   - defaultTimeout: a deadline for operations whose caller gives none.
    ///   - chain: the middleware, in order.
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
    }

    /// Runs any operation through the chain.
    /// - Throws: ``CacheError``.
    @inlinable
    public func execute(
        _ operation: CacheOperation, route: String? = nil, deadline: ContinuousClock.Instant? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> CacheReply {
        let route = route ?? CacheRoute.current
        let context = CacheContext(
            route: route,
            logger: logger,
            deadline: deadline ?? defaultTimeout.map { ContinuousClock.now.advanced(by: $0) },
            callSite: CallSite(fileID: file, line: line),
            policy: policies.resolve(route: route, operation: operation),
            policies: policies,
            capabilities: client.capabilities
        )
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
        let reply = try await execute(.get(key), route: route, file: file, line: line)
        guard case .value(let v) = reply else { throw Self.unexpected(reply, "get") }
        return v
    }

    /// Writes a key.
    /// - Returns: what happened to the write (stored, condition not met, dropped, kept locally).
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func set(
        _ key: CacheKey, value: ByteBuffer, ttl: Duration? = nil, condition: SetOptions.Condition = .always,
        keepTTL: Bool = false, route: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> WriteOutcome {
        try await set(key, value: value, options: SetOptions(ttl: ttl, condition: condition, keepTTL: keepTTL), route: route, file: file, line: line).outcome
    }

    /// Writes a key with full options (including `returnPrevious`).
    /// - Throws: ``CacheError``.
    @inlinable
    public func set(
        _ key: CacheKey, value: ByteBuffer, options: SetOptions, route: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws(CacheError) -> WriteResult {
        let reply = try await execute(.set(key, value, options), route: route, file: file, line: line)
        guard case .write(let w) = reply else { throw Self.unexpected(reply, "set") }
        return w
    }

    /// Deletes a key.
    /// - Returns: whether a key was removed.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func delete(_ key: CacheKey, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await execute(.delete(key), route: route, file: file, line: line)
        guard case .count(let n) = reply else { throw Self.unexpected(reply, "delete") }
        return n > 0
    }

    /// Whether a key exists.
    /// - Throws: ``CacheError``.
    @inlinable
    public func exists(_ key: CacheKey, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await execute(.exists(key), route: route, file: file, line: line)
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
        let reply = try await execute(.increment(key, by: by, ttlOnCreate: ttlOnCreate), route: route, file: file, line: line)
        guard case .integer(let n) = reply else { throw Self.unexpected(reply, "increment") }
        return n
    }

    /// Sets a key's TTL.
    /// - Returns: whether the key existed.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func expire(_ key: CacheKey, ttl: Duration, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> Bool {
        let reply = try await execute(.expire(key, ttl: ttl), route: route, file: file, line: line)
        guard case .bool(let b) = reply else { throw Self.unexpected(reply, "expire") }
        return b
    }

    /// Reads several keys.
    /// - Throws: ``CacheError``.
    @inlinable
    public func mget(_ keys: [CacheKey], route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> [ByteBuffer?] {
        let reply = try await execute(.mget(keys), route: route, file: file, line: line)
        guard case .values(let v) = reply, v.count == keys.count else { throw Self.unexpected(reply, "mget") }
        return v
    }

    /// Writes several keys with one optional TTL.
    /// - Throws: ``CacheError``.
    @inlinable
    @discardableResult
    public func mset(_ pairs: [KeyValue], ttl: Duration? = nil, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> WriteOutcome {
        let reply = try await execute(.mset(pairs, ttl: ttl), route: route, file: file, line: line)
        guard case .write(let w) = reply else { throw Self.unexpected(reply, "mset") }
        return w.outcome
    }

    /// One GCRA step on a key.
    /// - Throws: ``CacheError``.
    @inlinable
    public func throttle(_ key: CacheKey, _ parameters: GCRAParameters, route: String? = nil, file: StaticString = #fileID, line: UInt = #line) async throws(CacheError) -> GCRADecision {
        let reply = try await execute(.throttle(key, parameters), route: route, file: file, line: line)
        guard case .throttle(let d) = reply else { throw Self.unexpected(reply, "throttle") }
        return d
    }

    @usableFromInline
    static func unexpected(_ reply: CacheReply, _ op: String) -> CacheError {
        CacheError(.protocolError, "unexpected reply \(reply) to \(op)")
    }
}
