public import Spillway

/// Which master serves each of the 16,384 slots: what a cluster client routes by.
///
/// Built from `CLUSTER SHARDS` (``init(shards:queried:tls:)``) or, on servers before 7.0, from
/// `CLUSTER SLOTS` (``init(slots:queried:)``). Shards that serve no slot (a failed old master, as
/// Redis 7.0 reports it after a failover, or an empty new node) are left out.
public struct RedisClusterTopology: Sendable, Equatable {
    /// The masters that serve at least one slot, in the order first seen.
    public private(set) var masters: [RedisClusterNodeAddress]
    /// For each slot, the index in ``masters`` of its master; -1 when no master serves it.
    private var slotOwners: [Int16]

    /// An empty topology: no slot served.
    public init() {
        masters = []
        slotOwners = Array(repeating: -1, count: RedisClusterSlot.count)
    }

    /// The master serving `slot`, if any.
    public func master(forSlot slot: Int) -> RedisClusterNodeAddress? {
        let owner = slotOwners[slot]
        return owner < 0 ? nil : masters[Int(owner)]
    }

    /// The index in ``masters`` of the master serving `slot`; -1 when none does.
    func masterIndex(forSlot slot: Int) -> Int {
        Int(slotOwners[slot])
    }

    /// The number of slots that have a master (16,384 in a healthy cluster).
    public var coveredSlots: Int { slotOwners.reduce(0) { $0 + ($1 < 0 ? 0 : 1) } }

    /// The slots `master` serves.
    public func slots(of master: RedisClusterNodeAddress) -> [Int] {
        guard let index = masters.firstIndex(of: master) else { return [] }
        return slotOwners.indices.filter { slotOwners[$0] == Int16(index) }
    }

    /// Records that `master` serves `slots` (a `MOVED` redirection, or a shard of a reply).
    public mutating func assign(_ slots: ClosedRange<Int>, to master: RedisClusterNodeAddress) {
        let index: Int
        if let known = masters.firstIndex(of: master) {
            index = known
        } else {
            masters.append(master)
            index = masters.count - 1
        }
        for slot in slots where (0..<RedisClusterSlot.count).contains(slot) { slotOwners[slot] = Int16(index) }
    }

    /// Drops masters that no longer serve any slot (after ``assign(_:to:)`` moved their last one).
    public mutating func compact() {
        var used = Array(repeating: false, count: masters.count)
        for owner in slotOwners where owner >= 0 { used[Int(owner)] = true }
        guard used.contains(false) else { return }
        var newIndex = Array(repeating: Int16(-1), count: masters.count)
        var kept: [RedisClusterNodeAddress] = []
        for (i, master) in masters.enumerated() where used[i] {
            newIndex[i] = Int16(kept.count)
            kept.append(master)
        }
        masters = kept
        for slot in slotOwners.indices where slotOwners[slot] >= 0 { slotOwners[slot] = newIndex[Int(slotOwners[slot])] }
    }

    // MARK: Parsing

    /// Parses a `CLUSTER SHARDS` reply (RESP3 maps or RESP2 flat arrays).
    /// - Parameters:
    ///   - reply: the reply.
    ///   - queried: the node asked, for nodes that announce no address of their own.
    ///   - tls: whether the cluster is reached over TLS (then a node's `tls-port` is used).
    /// - Throws: `.protocolError` when the reply is not shaped like one.
    public init(shards reply: RESPValue, queried: RedisClusterNodeAddress, tls: Bool = false) throws(CacheError) {
        self.init()
        guard let shards = reply.elements else { throw Self.malformed("CLUSTER SHARDS", reply) }
        for shard in shards {
            let fields = try Self.fields(shard, "CLUSTER SHARDS")
            guard let slotList = fields["slots"]?.elements, let nodes = fields["nodes"]?.elements else {
                throw Self.malformed("CLUSTER SHARDS", shard)
            }
            guard !slotList.isEmpty else { continue }  // a shard with no slots: ignored
            var master: RedisClusterNodeAddress?
            var masterOnline = false
            for node in nodes {
                let info = try Self.fields(node, "CLUSTER SHARDS")
                guard info["role"]?.string == "master" else { continue }
                let online = info["health"]?.string.map { $0 == "online" } ?? true
                if master != nil && (masterOnline || !online) { continue }
                let port = (tls ? info["tls-port"]?.int64 : nil) ?? info["port"]?.int64 ?? info["tls-port"]?.int64
                guard let port else { throw Self.malformed("CLUSTER SHARDS", node) }
                var host = info["endpoint"]?.string ?? ""
                if host.isEmpty || host == "?" { host = info["ip"]?.string ?? "" }
                if host.isEmpty || host == "?" { host = queried.host }
                master = RedisClusterNodeAddress(host: host, port: Int(port))
                masterOnline = online
            }
            guard let master else { continue }
            var i = 0
            while i + 1 < slotList.count {
                guard let start = slotList[i].int64, let end = slotList[i + 1].int64, start <= end else {
                    throw Self.malformed("CLUSTER SHARDS", shard)
                }
                assign(Int(start)...Int(end), to: master)
                i += 2
            }
        }
    }

    /// Parses a `CLUSTER SLOTS` reply: ranges, each with its master first.
    /// - Throws: `.protocolError` when the reply is not shaped like one.
    public init(slots reply: RESPValue, queried: RedisClusterNodeAddress) throws(CacheError) {
        self.init()
        guard let ranges = reply.elements else { throw Self.malformed("CLUSTER SLOTS", reply) }
        for range in ranges {
            guard let parts = range.elements, parts.count >= 3, let start = parts[0].int64, let end = parts[1].int64,
                start <= end, let node = parts[2].elements, node.count >= 2, let port = node[1].int64
            else { throw Self.malformed("CLUSTER SLOTS", range) }
            var host = node[0].string ?? ""
            if host.isEmpty || host == "?" { host = queried.host }
            assign(Int(start)...Int(end), to: RedisClusterNodeAddress(host: host, port: Int(port)))
        }
    }

    private static func fields(_ value: RESPValue, _ command: String) throws(CacheError) -> [String: RESPValue] {
        var result: [String: RESPValue] = [:]
        switch value {
        case .map(let entries):
            for entry in entries {
                guard let name = entry.key.string else { throw malformed(command, value) }
                result[name] = entry.value
            }
        case .array(let flat):
            guard flat.count % 2 == 0 else { throw malformed(command, value) }
            var i = 0
            while i < flat.count {
                guard let name = flat[i].string else { throw malformed(command, value) }
                result[name] = flat[i + 1]
                i += 2
            }
        default:
            throw malformed(command, value)
        }
        return result
    }

    private static func malformed(_ command: String, _ value: RESPValue) -> CacheError {
        CacheError(.protocolError, "unexpected \(command) reply: \(value)")
    }
}
