import NIOCore
import Synchronization
public import Spillway

extension RedisClusterClient {
    /// Executes one operation on the master of its key's slot (`mget` split by slot, one `MGET`
    /// per slot and one pipeline per node, the nodes concurrently; `mset` split by slot, the
    /// slots concurrently), following redirections and retrying transient refusals (see
    /// ``RedisClusterClient``).
    /// - Throws: the classified ``CacheError``; `.busy` when the cluster still refuses (or keeps
    ///   redirecting) at the end of ``RedisClusterConfiguration/retryTimeout``.
    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        switch operation {
        case .mget(let keys):
            return try await mget(keys)
        case .mset(let pairs, let ttl):
            return try await mset(pairs, ttl: ttl)
        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            return try await msetReturningHeads(pairs, ttl: ttl, headBytes: headBytes)
        default:
            guard let key = operation.primaryKey else { throw CacheError(.invalidArgument, "an operation without a key") }
            return try await routed(slot: Self.slot(of: key), resendIfLost: Self.resendable(operation)) { client throws(CacheError) in
                try await client.execute(operation)
            }
        }
    }

    /// Sends a command for `key` to the master of its slot, following redirections and retrying
    /// transient refusals as ``execute(_:)`` does (a command that may have run when its
    /// connection broke is not sent again). The command's keys must all hash to `key`'s slot.
    /// - Throws: the classified error of an error reply (`CROSSSLOT` is `.invalidArgument`), or a
    ///   transport error.
    public func send(key: CacheKey, _ command: String, arguments: [any RESPArgument]) async throws(CacheError) -> RESPValue {
        try await routed(slot: Self.slot(of: key), resendIfLost: false) { client throws(CacheError) in
            try await client.send(command, arguments: arguments)
        }
    }

    /// Whether an operation may be sent again after its connection broke with it in flight: the
    /// result is the same if it had already run.
    static func resendable(_ operation: CacheOperation) -> Bool {
        switch operation {
        case .get, .exists, .delete, .expire, .mget, .mset: true
        case .set(_, _, let options): options.condition == .always && !options.returnPrevious
        case .increment, .throttle, .deleteReturningHead, .expireReturningHead, .msetReturningHeads: false
        }
    }

    // MARK: Multi-key

    private func mget(_ keys: [CacheKey]) async throws(CacheError) -> CacheReply {
        guard !keys.isEmpty else { return .values([]) }
        let parts = Self.partitioned(keys.indices) { Self.slot(of: keys[$0]) }
        if parts.count == 1 {
            return try await routed(slot: parts[0].slot, resendIfLost: true) { client throws(CacheError) in try await client.execute(.mget(keys)) }
        }
        // One MGET per slot; the slots' MGETs go to their masters as one pipeline per node.
        let commands = parts.map { part in
            RedisClusterCommand(key: keys[part.indices[0]], ["MGET" as any RESPArgument] + part.indices.map { keys[$0] as any RESPArgument })
        }
        let replies = try await pipeline(commands, resendIfLost: true)
        var values = [ByteBuffer?](repeating: nil, count: keys.count)
        for (part, reply) in zip(parts, replies) {
            if case .error(let message) = reply { throw CacheError.redisReply(message) }
            guard case .array(let elements) = reply, elements.count == part.indices.count else {
                throw CacheError(.protocolError, "unexpected reply to MGET: \(reply)")
            }
            for (index, element) in zip(part.indices, elements) {
                switch element {
                case .bulkString(let value): values[index] = value
                case .null: values[index] = nil
                default: throw CacheError(.protocolError, "unexpected reply to MGET: \(reply)")
                }
            }
        }
        return .values(values)
    }

    private func mset(_ pairs: [KeyValue], ttl: Duration?) async throws(CacheError) -> CacheReply {
        guard !pairs.isEmpty else { return .write(WriteResult(.stored)) }
        let parts = Self.partitioned(pairs.indices) { Self.slot(of: pairs[$0].key) }
        if parts.count == 1 {
            return try await routed(slot: parts[0].slot, resendIfLost: true) { client throws(CacheError) in try await client.execute(.mset(pairs, ttl: ttl)) }
        }
        _ = try await Self.concurrently(parts) { [self] part throws(CacheError) in
            let subset = part.indices.map { pairs[$0] }
            return try await routed(slot: part.slot, resendIfLost: true) { client throws(CacheError) in try await client.execute(.mset(subset, ttl: ttl)) }
        }
        return .write(WriteResult(.stored))
    }

    /// One `msetReturningHeads` per slot (its script's keys must share one), run concurrently;
    /// the heads come back in the pairs' order. Each slot's part is atomic on its own, as each
    /// part of a split `mset` is.
    private func msetReturningHeads(_ pairs: [KeyValue], ttl: Duration?, headBytes: Int) async throws(CacheError) -> CacheReply {
        guard !pairs.isEmpty else { return .write(WriteResult(.stored)) }
        let parts = Self.partitioned(pairs.indices) { Self.slot(of: pairs[$0].key) }
        let results = try await Self.concurrently(parts) { [self] part throws(CacheError) in
            let subset = parts.count == 1 ? pairs : part.indices.map { pairs[$0] }
            let reply = try await routed(slot: part.slot, resendIfLost: false) { client throws(CacheError) in
                try await client.execute(.msetReturningHeads(subset, ttl: ttl, headBytes: headBytes))
            }
            guard case .write(let result) = reply, result.previousHeads.count == subset.count else {
                throw CacheError(.protocolError, "unexpected reply to the mset-heads script: \(reply)")
            }
            return result.previousHeads
        }
        var heads = [ByteBuffer?](repeating: nil, count: pairs.count)
        for (part, partHeads) in zip(parts, results) {
            for (index, head) in zip(part.indices, partHeads) { heads[index] = head }
        }
        return .write(WriteResult(.stored, previousHeads: heads))
    }

    /// Groups indices by slot, in the order of first appearance.
    static func partitioned(_ indices: Range<Int>, slot: (Int) -> Int) -> [(slot: Int, indices: [Int])] {
        var position: [Int: Int] = [:]
        var parts: [(slot: Int, indices: [Int])] = []
        for index in indices {
            let s = slot(index)
            if let p = position[s] {
                parts[p].indices.append(index)
            } else {
                position[s] = parts.count
                parts.append((s, [index]))
            }
        }
        return parts
    }

    // MARK: Routing

    /// Runs `body` on the master of `slot`, following `MOVED` and `ASK` and retrying transient
    /// refusals and failed connections with backoff until the retry timeout.
    func routed<R: Sendable>(
        slot: Int, resendIfLost: Bool, _ body: (RedisClient) async throws(CacheError) -> R
    ) async throws(CacheError) -> R {
        let deadline = ContinuousClock.now + configuration.retryTimeout
        var redirections = 0
        var attempt = 0
        var asking: RedisClusterNodeAddress?
        var checkPending = true
        while true {
            let target: RedisClusterNodeAddress
            let client: RedisClient
            if let asking {
                target = asking
                client = try node(asking)
            } else {
                // One lock: the slot's master and its client, and (first time round) a trailing
                // refresh that has come due.
                let route = state.withLock { s in s.route(slot: slot, checkPending: checkPending, jitter: jitter) }
                if checkPending {
                    checkPending = false
                    if route.due != .none {
                        await carryOut(route.due)
                        continue
                    }
                }
                if let master = route.master {
                    target = master
                    if let known = route.client { client = known } else { client = try node(master) }
                } else {
                    let hasMap = state.withLock { $0.router.topology != nil }
                    await requestRefresh(hasMap ? .clusterDown : .initial)
                    if let master = state.withLock({ $0.router.route(slot: slot) }) {
                        target = master
                        client = try node(master)
                    } else {
                        try await backOff(
                            &attempt, until: deadline,
                            CacheError(.busy, hasMap ? "CLUSTERDOWN no Redis Cluster master serves slot \(slot)" : "no Redis Cluster node answered CLUSTER SHARDS")
                        )
                        continue
                    }
                }
            }
            let error: CacheError
            do throws(CacheError) {
                if asking != nil {
                    return try await Self.asking { () async throws(CacheError) -> R in try await body(client) }
                }
                return try await body(client)
            } catch let caught {
                error = caught
            }
            asking = nil
            switch RedisClusterFailure(error) {
            case .moved(let movedSlot, let address):
                redirections += 1
                guard redirections <= configuration.maxRedirections else { throw Self.tooManyRedirections(error) }
                let decision = state.withLock { s in
                    let decision = s.router.moved(slot: movedSlot, to: address, now: .now, jitter: jitter())
                    topologyChanged(&s)
                    return decision
                }
                await carryOut(decision)
                // A second MOVED in one operation: the nodes do not agree yet (a slot was just
                // handed over and gossip is still spreading it), so each sends the command to
                // the other. Wait, doubling, instead of spending every redirection in a burst.
                if redirections > 1 { try await backOff(&attempt, until: deadline, Self.tooManyRedirections(error)) }
            case .ask(_, let address):
                redirections += 1
                guard redirections <= configuration.maxRedirections else { throw Self.tooManyRedirections(error) }
                state.withLock { $0.router.asked() }
                asking = address
            case .transient(let clusterDown):
                if clusterDown { await requestRefresh(.clusterDown) }
                try await backOff(&attempt, until: deadline, CacheError(.busy, error.message, underlying: error))
            case .readOnly:
                await requestRefresh(.readOnly)
                try await backOff(&attempt, until: deadline, error)
            case .notSent:
                let decision = state.withLock { $0.router.connectionFailed(target, now: .now, jitter: jitter()) }
                await carryOut(decision)
                try await backOff(&attempt, until: deadline, error)
            case .lost:
                let decision = state.withLock { $0.router.connectionFailed(target, now: .now, jitter: jitter()) }
                await carryOut(decision)
                guard resendIfLost else { throw error }
                try await backOff(&attempt, until: deadline, error)
            case .other:
                throw error
            }
        }
    }

    /// Runs `body` with every command it sends preceded by `ASKING` on the same connection.
    private static func asking<R>(_ body: () async throws(CacheError) -> R) async throws(CacheError) -> R {
        do {
            return try await RedisClient.$askingRedirect.withValue(true) { try await body() }
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.other, "\(error)", underlying: error)
        }
    }

    /// Waits before the next attempt (doubling from the initial backoff), or throws `error` when
    /// that would pass `deadline`.
    func backOff(_ attempt: inout Int, until deadline: ContinuousClock.Instant, _ error: CacheError) async throws(CacheError) {
        let pause = min(configuration.maxRetryBackoff, configuration.initialRetryBackoff * (1 << min(attempt, 16)))
        attempt += 1
        guard ContinuousClock.now + pause < deadline else { throw error }
        state.withLock { $0.router.retried() }
        do {
            try await Task.sleep(for: pause)
        } catch {
            throw CacheError(.cancelled, "cancelled while waiting to retry on the Redis Cluster")
        }
    }

    static func tooManyRedirections(_ error: CacheError) -> CacheError {
        CacheError(.busy, "too many Redis Cluster redirections (last: \(error.message))", underlying: error)
    }
}
