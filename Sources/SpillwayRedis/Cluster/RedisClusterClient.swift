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
///   several slots in one command with `CROSSSLOT`). An `mget`'s per-slot `MGET`s go to each
///   master as one pipeline, the masters concurrently; an `mset`'s slots run concurrently, and
///   one with a TTL is atomic per slot only. Every other operation has one key and runs on its
///   master as ``RedisClient`` runs it (the GCRA and previous-head scripts by `EVALSHA` with the
///   `NOSCRIPT` fallback, per node).
/// - **Pipelines**: ``pipeline(_:resendIfLost:)`` splits any commands by node, one pipeline per
///   master, concurrently, and follows each command's redirections on its own.
/// - **Departed nodes**: after a refresh, the clients of nodes that are no longer masters (a
///   failed or demoted master, a master that gave away its slots) are closed once their commands
///   in flight are done (``RedisClusterStats/nodesClosed``), so failovers and reshards leak no
///   connections.
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
        /// The client of every node in use, by address.
        var nodes: [RedisClusterNodeAddress: RedisClient] = [:]
        /// The client of each master of `router.topology`, by its index in the topology's
        /// `masters` (kept in step by ``RedisClusterClient/topologyChanged(_:)``), so that routing
        /// a command reads an array instead of hashing an address; `nil` when the client could
        /// not be made (``RedisClusterClient/node(_:)`` then reports why).
        var masterClients: [RedisClient?] = []
        /// Clients of nodes that left the topology, closing once their commands are done.
        var retiring: [RedisClient] = []
        var closed = false

        /// Where a command for `slot` goes: the master in the map and its client (`nil` when
        /// none serves it, or before the first refresh), and, with `checkPending`, a trailing
        /// refresh that has come due.
        mutating func route(
            slot: Int, checkPending: Bool, jitter: () -> Duration
        ) -> (master: RedisClusterNodeAddress?, client: RedisClient?, due: RedisClusterRouter.Decision) {
            var due = RedisClusterRouter.Decision.none
            if checkPending, router.pending != nil { due = router.pendingRefreshDue(now: .now, jitter: jitter()) }
            guard let topology = router.topology else { return (nil, nil, due) }
            let index = topology.masterIndex(forSlot: slot)
            guard index >= 0 else { return (nil, nil, due) }
            return (topology.masters[index], index < masterClients.count ? masterClients[index] : nil, due)
        }
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
            let all = Array(s.nodes.values) + s.retiring
            s.nodes = [:]
            s.masterClients = []
            s.retiring = []
            return all
        }
        for client in clients { await client.close() }
    }

    /// What the client has done to follow the cluster so far.
    public var stats: RedisClusterStats { state.withLock { $0.router.stats } }

    /// The slot map in use; `nil` before the first refresh.
    public var topology: RedisClusterTopology? { state.withLock { $0.router.topology } }

    /// The single-node client for `address` (created on first use), for commands that go to one
    /// node (`INFO`, `CLUSTER …`, a scan of one master). The client of a node that is no longer
    /// a master after a topology refresh is closed once its commands in flight are done; ask
    /// again for a fresh one.
    /// - Throws: `.connection` once the client is closed.
    public func node(_ address: RedisClusterNodeAddress) throws(CacheError) -> RedisClient {
        let result: Result<RedisClient, CacheError> = state.withLock { s in
            if s.closed { return .failure(CacheError(.connection, "the Redis Cluster client is closed")) }
            if let client = s.nodes[address] { return .success(client) }
            do throws(CacheError) {
                return .success(try makeNodeClient(address, in: &s))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Makes and records the client of `address` (under the state's lock).
    private func makeNodeClient(_ address: RedisClusterNodeAddress, in s: inout State) throws(CacheError) -> RedisClient {
        let client = try RedisClient(configuration: Self.nodeConfiguration(configuration.node, address), eventLoopGroup: eventLoopGroup)
        s.nodes[address] = client
        return client
    }

    /// Brings ``State/masterClients`` in step with the router's topology, after the topology
    /// changed (a refresh, a `MOVED`). Under the state's lock.
    func topologyChanged(_ s: inout State) {
        guard !s.closed, let masters = s.router.topology?.masters else {
            s.masterClients = []
            return
        }
        s.masterClients = masters.map { address in
            if let client = s.nodes[address] { return client }
            return try? makeNodeClient(address, in: &s)
        }
    }

    /// After a refresh: the clients of nodes that are no longer masters (a failed or demoted old
    /// master, a master that gave away its last slot, a seed that is a replica) leave the table,
    /// to be closed by ``closeWhenIdle(_:)``. Under the state's lock.
    func retireDeparted(_ s: inout State) -> [RedisClient] {
        guard !s.closed, let topology = s.router.topology else { return [] }
        let masters = Set(topology.masters)
        var departed: [RedisClient] = []
        for (address, client) in s.nodes where !masters.contains(address) {
            s.nodes[address] = nil
            departed.append(client)
        }
        s.retiring += departed
        return departed
    }

    /// Closes a retired node client once no command is in flight on it (or after the command
    /// timeout, when a reply never comes), so a command that was already under way finishes.
    func closeWhenIdle(_ client: RedisClient) async {
        let deadline = ContinuousClock.now + configuration.node.commandTimeout + .seconds(1)
        while client.isBusy && ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
        await client.close()
        state.withLock { s in
            s.retiring.removeAll { $0 === client }
            s.router.nodeClosed()
        }
    }

    /// The nodes the client has a client for (masters, and nodes asked directly), and how many
    /// retired clients are still waiting to close.
    package var nodeClients: (addresses: [RedisClusterNodeAddress], retiring: Int) {
        state.withLock { s in (s.nodes.keys.sorted(), s.retiring.count) }
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
        key.bytes.withUnsafeReadableBytes { RedisClusterSlot.of($0) }
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
