public import Spillway

/// How a ``RedisClusterClient`` finds and follows a cluster: seed nodes, the per-node connection
/// settings (AUTH, TLS, timeouts, pool size: a ``RedisConfiguration`` whose host and port are
/// replaced by each node's), and the limits on retries and topology refreshes.
public struct RedisClusterConfiguration: Sendable {
    /// The nodes asked for the topology when the client starts (any node of the cluster will
    /// do; give several in case one is down).
    public var seeds: [RedisClusterNodeAddress]
    /// The connection settings used for every node (its `host`, `port` and `database` are
    /// ignored: each node's address is used, and a cluster has only database 0).
    public var node: RedisConfiguration
    /// How long an operation keeps retrying through redirections, `TRYAGAIN`, `CLUSTERDOWN`,
    /// `LOADING`, `MASTERDOWN` and failed connections (a failover) before it fails. Set it above
    /// the cluster's `cluster-node-timeout` plus a second or two, so that writes survive a
    /// failover. A deadline in the ``CacheContext`` (which cancels the operation) still wins.
    public var retryTimeout: Duration
    /// The most `MOVED`/`ASK` redirections one operation follows before failing with `.busy`.
    public var maxRedirections: Int
    /// The first pause before retrying after a transient refusal; it doubles up to
    /// ``maxRetryBackoff``.
    public var initialRetryBackoff: Duration
    /// The longest pause between retries.
    public var maxRetryBackoff: Duration
    /// The least time between two topology refreshes' starts, plus a random jitter of up to
    /// ``refreshJitter``: however many commands see `MOVED` or a dead node at once, refreshes stay
    /// bounded to about one per interval.
    public var minRefreshInterval: Duration
    /// The most random time added to ``minRefreshInterval``, so clients do not refresh in step.
    public var refreshJitter: Duration
    /// How often ``RedisClusterClient/run()`` refreshes the topology when nothing else did;
    /// `nil` for never.
    public var periodicRefreshInterval: Duration?

    /// Creates a configuration.
    public init(
        seeds: [RedisClusterNodeAddress],
        node: RedisConfiguration = RedisConfiguration(connectTimeout: .seconds(1)),
        retryTimeout: Duration = .seconds(5),
        maxRedirections: Int = 16,
        initialRetryBackoff: Duration = .milliseconds(20),
        maxRetryBackoff: Duration = .milliseconds(250),
        minRefreshInterval: Duration = .milliseconds(500),
        refreshJitter: Duration = .milliseconds(100),
        periodicRefreshInterval: Duration? = .seconds(30)
    ) {
        self.seeds = seeds
        self.node = node
        self.retryTimeout = retryTimeout
        self.maxRedirections = max(1, maxRedirections)
        self.initialRetryBackoff = initialRetryBackoff
        self.maxRetryBackoff = maxRetryBackoff
        self.minRefreshInterval = minRefreshInterval
        self.refreshJitter = refreshJitter
        self.periodicRefreshInterval = periodicRefreshInterval
    }

    /// Creates a configuration from a URL:
    /// `redis-cluster://[[user]:password@]host:port[,host:port…][?ca_file=…]`, or
    /// `rediss-cluster://…` for TLS. Credentials and TLS options are those of
    /// ``RedisConfiguration/init(url:)`` and apply to every node. The per-node connect timeout
    /// is 1 s (a dead master must not hold a command for long).
    /// - Throws: `CacheError(.invalidArgument)` when the URL is malformed, names no host, or a
    ///   database other than 0.
    public init(url: String) throws(CacheError) {
        func invalid(_ why: String) -> CacheError {
            CacheError(.invalidArgument, "invalid Redis Cluster URL (\(why)); expected redis-cluster://[user:pass@]host:port,host:port or rediss-cluster://…")
        }
        var rest = Substring(url)
        let scheme: String
        if rest.hasPrefix("redis-cluster://") {
            rest = rest.dropFirst("redis-cluster://".count)
            scheme = "redis://"
        } else if rest.hasPrefix("rediss-cluster://") {
            rest = rest.dropFirst("rediss-cluster://".count)
            scheme = "rediss://"
        } else {
            throw invalid("unknown scheme")
        }
        var suffix: Substring = ""
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            suffix = rest[end...]
            rest = rest[..<end]
        }
        var userinfo: Substring = ""
        if let at = rest.lastIndex(of: "@") {
            userinfo = rest[...at]
            rest = rest[rest.index(after: at)...]
        }
        let hosts = rest.split(separator: ",", omittingEmptySubsequences: false)
        guard !hosts.isEmpty, !hosts.contains(where: \.isEmpty) else { throw invalid("no host") }
        var node: RedisConfiguration?
        var seeds: [RedisClusterNodeAddress] = []
        for host in hosts {
            var parsed: RedisConfiguration
            do {
                parsed = try RedisConfiguration(url: scheme + userinfo + host + suffix)
            } catch {
                throw invalid(error.message)
            }
            guard parsed.database == 0 else { throw invalid("a cluster has only database 0") }
            seeds.append(RedisClusterNodeAddress(host: parsed.host, port: parsed.port))
            if node == nil {
                parsed.connectTimeout = .seconds(1)
                node = parsed
            }
        }
        self.init(seeds: seeds, node: node!)
    }
}
