import Spillway
import SpillwayRedis

/// What `spillway demo --backend` names: the embedded cache, a throwaway Redis, or a Redis URL.
enum DemoBackend: Equatable {
    /// The embedded `MemoryCache` (the default).
    case memory
    /// A real Redis: at this `redis://` or `rediss://` URL, or, when `nil`, a throwaway
    /// `redis-server` the demo starts on 127.0.0.1 and a free port.
    case redis(url: String?)
    /// A Redis Cluster at this `redis-cluster://` or `rediss-cluster://` URL.
    case redisCluster(url: String)

    /// Parses `memory`, `redis`, or a URL (checked by `RedisConfiguration(url:)`, or
    /// `RedisClusterConfiguration(url:)` for `redis-cluster://`).
    /// - Throws: `CacheError(.invalidArgument)` for anything else or a malformed URL.
    init(_ text: String) throws(CacheError) {
        switch text {
        case "memory": self = .memory
        case "redis": self = .redis(url: nil)
        case _ where text.hasPrefix("redis-cluster://") || text.hasPrefix("rediss-cluster://"):
            _ = try RedisClusterConfiguration(url: text)
            self = .redisCluster(url: text)
        default:
            guard text.hasPrefix("redis://") || text.hasPrefix("rediss://") else {
                throw CacheError(.invalidArgument, "expected memory, redis, or a redis://, rediss:// or redis-cluster:// URL, got \(text)")
            }
            _ = try RedisConfiguration(url: text)
            self = .redis(url: text)
        }
    }
}
