/// What a ``RedisClusterClient`` has done to follow the cluster, since it was created.
public struct RedisClusterStats: Sendable, Hashable {
    /// Topology refreshes started (each sends one `CLUSTER SHARDS`, or `CLUSTER SLOTS` on an
    /// older server, to each node it asks until one answers). Also the metric
    /// `spillway_redis_cluster_refreshes`.
    public var refreshes = 0
    /// Refreshes in which no node answered.
    public var refreshFailures = 0
    /// Refresh requests dropped because one was already in flight.
    public var refreshesCoalesced = 0
    /// Refresh requests dropped because the last refresh started less than the minimum interval
    /// (plus jitter) ago.
    public var refreshesThrottled = 0
    /// `MOVED` redirections followed.
    public var moved = 0
    /// `ASK` redirections followed.
    public var asked = 0
    /// Commands sent again after `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, `READONLY`
    /// or a failed connection.
    public var retries = 0

    /// Clients of nodes that left the topology (a failed or demoted master, a master without
    /// slots, a seed that is a replica) closed after a refresh, once their commands were done.
    public var nodesClosed = 0

    /// Creates zeroed stats.
    public init() {}
}
