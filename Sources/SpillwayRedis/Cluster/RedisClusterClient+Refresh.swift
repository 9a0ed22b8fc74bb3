public import Spillway
import Synchronization
import Logging

extension RedisClusterClient {
    /// Reads the topology now, ignoring the minimum interval between refreshes (not the
    /// single flight: when one is already running, waits for it instead).
    /// - Throws: `.connection` (or the last node's error) when no node answers.
    public func refreshTopology() async throws(CacheError) {
        let decision = state.withLock { $0.router.requestRefresh(.initial, now: .now, jitter: jitter(), force: true) }
        if case .refresh(let candidates, let reason) = decision {
            try await performRefresh(candidates, reason: reason)
            return
        }
        // One is in flight: wait for it (bounded by the retry timeout).
        let deadline = ContinuousClock.now + configuration.retryTimeout
        while state.withLock({ $0.router.refreshing }) && ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(5)) } catch { throw CacheError(.cancelled, "cancelled while waiting for a topology refresh") }
        }
        if state.withLock({ $0.router.topology }) == nil { throw CacheError(.connection, "no Redis Cluster node answered CLUSTER SHARDS") }
    }

    /// Asks for a refresh for `reason`, and runs it in this task if the router says so. A failed
    /// refresh is counted in ``stats`` and logged; the caller's own retry goes on.
    func requestRefresh(_ reason: RedisClusterRouter.Reason) async {
        let decision = state.withLock { $0.router.requestRefresh(reason, now: .now, jitter: jitter()) }
        await carryOut(decision)
    }

    /// Runs the refresh a router decision asks for, if any.
    func carryOut(_ decision: RedisClusterRouter.Decision) async {
        guard case .refresh(let candidates, let reason) = decision else { return }
        do {
            try await performRefresh(candidates, reason: reason)
        } catch {
            logger.debug("Redis Cluster topology refresh failed", metadata: ["reason": "\(reason.rawValue)", "error": "\(error)"])
        }
    }

    /// A random jitter up to ``RedisClusterConfiguration/refreshJitter``.
    func jitter() -> Duration {
        let limit = configuration.refreshJitter.nanoseconds
        return limit > 0 ? .nanoseconds(Int64.random(in: 0...limit)) : .zero
    }

    /// Asks `candidates` in order for the topology until one answers with a map that covers at
    /// least one slot, then reports the result to the router (always, also when cancelled).
    private func performRefresh(_ candidates: [RedisClusterNodeAddress], reason: RedisClusterRouter.Reason) async throws(CacheError) {
        countRefresh(reason)
        var lastError = CacheError(.connection, "no Redis Cluster node to ask for the topology")
        for address in candidates {
            do throws(CacheError) {
                let topology = try await readTopology(from: address)
                guard topology.coveredSlots > 0 else {
                    lastError = CacheError(.busy, "CLUSTERDOWN \(address) serves no slot map yet")
                    continue
                }
                let departed = state.withLock { s in
                    s.router.refreshSucceeded(topology, now: .now)
                    topologyChanged(&s)
                    return retireDeparted(&s)
                }
                for client in departed { Task { await closeWhenIdle(client) } }
                logger.debug(
                    "Redis Cluster topology refreshed",
                    metadata: ["reason": "\(reason.rawValue)", "from": "\(address)", "masters": "\(topology.masters)"]
                )
                return
            } catch {
                lastError = error
                if error.code == .cancelled { break }
            }
        }
        state.withLock { $0.router.refreshFailed(now: .now) }
        throw lastError
    }

    /// `CLUSTER SHARDS` from one node, or `CLUSTER SLOTS` when the server does not know it.
    func readTopology(from address: RedisClusterNodeAddress) async throws(CacheError) -> RedisClusterTopology {
        let client = try node(address)
        let tls = configuration.node.tls != nil
        do {
            return try RedisClusterTopology(shards: try await client.send("CLUSTER", "SHARDS"), queried: address, tls: tls)
        } catch  where error.code == .other && error.message.lowercased().contains("unknown subcommand") {
            return try RedisClusterTopology(slots: try await client.send("CLUSTER", "SLOTS"), queried: address)
        }
    }
}
