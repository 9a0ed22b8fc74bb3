public import Logging
public import Metrics
public import NIOCore
public import NIOPosix
public import Spillway
import Synchronization

/// A Redis Cluster backend for Spillway: a ``CacheClient`` that routes each operation to the
/// master serving its key's slot, through one ``RedisClient`` (and its connection pool) per
/// master.
///
/// - **Topology**: read with `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers before 7.0) from the
///   seeds on first use, then refreshed when a command is `MOVED`, a node refuses or drops a
///   connection, a node answers `READONLY`, and every
///   ``RedisClusterConfiguration/periodicRefreshInterval`` while ``run()`` runs. One refresh at a
///   time, and at most one per ``RedisClusterConfiguration/minRefreshInterval`` plus jitter;
///   ``stats`` counts them (and the metric `spillway_redis_cluster_refreshes`, by reason).
/// - **Redirections**: `MOVED` patches the slot and sends again; `ASK` sends `ASKING` and the
///   command together on one connection of the target, leaving the map alone.
/// - **Transient refusals**: `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN` and `READONLY`,
///   and connections that cannot be opened, are retried with backoff within
///   ``RedisClusterConfiguration/retryTimeout``. A command whose connection broke in flight is
///   sent again only when that is harmless (reads, unconditional `set`, `mset`, `delete`,
///   `expire`); an `increment`, a `throttle` or a conditional `set` fails with `.connection`.
/// - **Multi-key operations**: `mget` and `mset` are split by slot (Redis refuses keys of
///   several slots in one command with `CROSSSLOT`), and the parts run concurrently on their
///   masters; an `mset` with a TTL is atomic per slot only. Every other operation has one key and
///   runs on its master as ``RedisClient`` runs it (the GCRA and previous-head scripts by
///   `EVALSHA` with the `NOSCRIPT` fallback, per node).
///
/// Call ``close()`` when done, or run it in a `ServiceGroup` (it is a `Service`).
public final class RedisClusterClient: CacheClient {
    /// The configuration the client was created with.
    public let configuration: RedisClusterConfiguration
    /// The same as ``RedisClient``'s: everything native, values up to 512 MiB.
    public let capabilities = CacheCapabilities(
        atomicSetReturningPrevious: true, atomicThrottle: true, maxValueBytes: 512 * 1024 * 1024, returnsPreviousHead: true
    )

    struct State {
        var router: RedisClusterRouter
        var nodes: [RedisClusterNodeAddress: RedisClient] = [:]
        var closed = false
    }

    let state: Mutex<State>
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let metricsFactory: (any MetricsFactory)?

    /// Creates a client. Nothing connects until the first operation (or ``refreshTopology()``).
    /// - Parameters:
    ///   - configuration: the seeds, per-node settings and limits.
    ///   - eventLoopGroup: where the connections run.
    ///   - logger: where refreshes and redirections are logged (at debug level).
    ///   - metricsFactory: the metrics factory; `nil` for the global one.
    /// - Throws: `.invalidArgument` without seeds, or when the TLS configuration is invalid.
    public init(
        configuration: RedisClusterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "spillway.redis.cluster", factory: { _ in SwiftLogNoOpLogHandler() }),
        metricsFactory: (any MetricsFactory)? = nil
    ) throws(CacheError) {
        guard let first = configuration.seeds.first else { throw CacheError(.invalidArgument, "a Redis Cluster client needs at least one seed node") }
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.metricsFactory = metricsFactory
        // The first seed's client checks the TLS settings now, not on first use.
        let seedClient = try RedisClient(configuration: Self.nodeConfiguration(configuration.node, first), eventLoopGroup: eventLoopGroup)
        let router = RedisClusterRouter(seeds: configuration.seeds, minInterval: configuration.minRefreshInterval)
        state = Mutex(State(router: router, nodes: [first: seedClient]))
    }

    /// Creates a client from a `redis-cluster://` or `rediss-cluster://` URL (see
    /// ``RedisClusterConfiguration/init(url:)``).
    /// - Throws: `.invalidArgument` when the URL is malformed.
    public convenience init(url: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(CacheError) {
        try self.init(configuration: RedisClusterConfiguration(url: url), eventLoopGroup: eventLoopGroup)
    }

    /// Closes every node's connections. Later operations fail with `.connection`.
    public func close() async {
        let clients = state.withLock { s in
            s.closed = true
            return Array(s.nodes.values)
        }
        for client in clients { await client.close() }
    }

    /// What the client has done to follow the cluster so far.
    public var stats: RedisClusterStats { state.withLock { $0.router.stats } }

    /// The slot map in use; `nil` before the first refresh.
    public var topology: RedisClusterTopology? { state.withLock { $0.router.topology } }

    /// The single-node client for `address` (created on first use), for commands that go to one
    /// node (`INFO`, `CLUSTER …`, a scan of one master).
    /// - Throws: `.connection` once the client is closed.
    public func node(_ address: RedisClusterNodeAddress) throws(CacheError) -> RedisClient {
        let result: Result<RedisClient, CacheError> = state.withLock { s in
            if s.closed { return .failure(CacheError(.connection, "the Redis Cluster client is closed")) }
            if let client = s.nodes[address] { return .success(client) }
            do throws(CacheError) {
                let client = try RedisClient(configuration: Self.nodeConfiguration(configuration.node, address), eventLoopGroup: eventLoopGroup)
                s.nodes[address] = client
                return .success(client)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The masters serving slots, reading the topology first if there is none yet.
    /// - Throws: `.connection` when no node answers.
    public func masters() async throws(CacheError) -> [RedisClusterNodeAddress] {
        if let topology { return topology.masters }
        try await refreshTopology()
        return topology?.masters ?? []
    }

    /// The slot of `key` (see ``RedisClusterSlot``).
    public static func slot(of key: CacheKey) -> Int {
        RedisClusterSlot.of(key.bytes.readableBytesView)
    }

    static func nodeConfiguration(_ base: RedisConfiguration, _ address: RedisClusterNodeAddress) -> RedisConfiguration {
        var configuration = base
        configuration.host = address.host
        configuration.port = address.port
        configuration.database = 0
        return configuration
    }

    func countRefresh(_ reason: RedisClusterRouter.Reason) {
        Counter(label: "spillway_redis_cluster_refreshes", dimensions: [("reason", reason.rawValue)], factory: metricsFactory ?? MetricsSystem.factory)
            .increment()
    }

    // MARK: Memory

    /// The masters' figures added up: `used_memory`, `maxmemory` (when every master has one)
    /// and `DBSIZE`.
    /// - Throws: the first master's error.
    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        let masters = try await masters()
        var clients: [RedisClient] = []
        for master in masters { clients.append(try node(master)) }
        let all = try await Self.concurrently(clients) { client throws(CacheError) in try await client.memoryStats() }
        var total = CacheMemoryStats(usedBytes: 0, maxBytes: 0, keyCount: 0)
        for stats in all {
            total.usedBytes += stats.usedBytes
            total.keyCount += stats.keyCount
            if let limit = stats.maxBytes, let sum = total.maxBytes { total.maxBytes = sum + limit } else { total.maxBytes = nil }
        }
        return total
    }

    /// Runs `body` for each element concurrently (a task group) and returns the results in order.
    /// - Throws: the first error; the other tasks are cancelled.
    static func concurrently<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) async throws(CacheError) -> Result
    ) async throws(CacheError) -> [Result] {
        if elements.count == 1 { return [try await body(elements[0])] }
        do {
            return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
                for (i, element) in elements.enumerated() {
                    group.addTask { (i, try await body(element)) }
                }
                var results = [Result?](repeating: nil, count: elements.count)
                for try await (i, result) in group { results[i] = result }
                return results.map { $0! }
            }
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.cancelled, "cancelled: \(error)", underlying: error)
        }
    }
}
