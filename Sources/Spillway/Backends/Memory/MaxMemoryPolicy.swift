/// What `MemoryCache` does at `maxmemory`, as Redis's `maxmemory-policy`.
public enum MaxMemoryPolicy: String, Sendable, Hashable, CaseIterable {
    /// Refuse writes with Redis's OOM error; reads, deletes and expires keep working.
    case noEviction = "noeviction"
    /// Evict the least recently used keys until memory is under the limit.
    case allKeysLRU = "allkeys-lru"
}
