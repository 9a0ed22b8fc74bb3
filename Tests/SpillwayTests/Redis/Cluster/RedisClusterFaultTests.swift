import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization
import Testing

/// Faults under load on a real cluster of its own (node timeout 2 s): a slot migrated while
/// written (ASK), a master killed with SIGKILL (automatic failover), and `CLUSTER FAILOVER` on a
/// replica. During each: no read returns wrong bytes, nothing acknowledged is lost, writes to the
/// affected slots are acknowledged again within the node timeout plus 2 s, and topology refreshes
/// stay bounded (counted by the client, cross-checked with `INFO commandstats`).
@Suite("Redis Cluster faults under load", .ownRedisCluster, .serialized)
struct RedisClusterFaultTests {
    static let nodeTimeout = RedisClusterFixture.options.nodeTimeout
    static let minRefreshInterval = Duration.milliseconds(200)

    /// What a fault did: the slots it touched, the nodes it took down, and when it is over.
    struct Fault {
        var affectedSlots: Set<Int>
        var down: Set<RedisClusterNodeAddress> = []
        var recovered: @Sendable () async throws -> Bool
        /// When the cluster itself finished failing over (promoted a replica), for a fault whose
        /// recovery waits on the cluster (a killed master); `nil` when the fault is instant.
        var promotedAt: @Sendable () -> ContinuousClock.Instant? = { nil }
        /// Checked once writes have resumed after the recovery, with the load still running.
        var afterRecovery: @Sendable (RedisClusterServer, RedisClusterClient) async throws -> Void = { _, _ in }
    }

    func withLoad(
        keys: [CacheKey],
        _ fault: (RedisClusterServer, RedisClusterClient) async throws -> Fault
    ) async throws {
        let cluster = try RedisClusterFixture.cluster()
        try await cluster.waitUntilHealthy()
        for role in try await cluster.roles() where role.isMaster {
            try await cluster.withNodeClient(try #require(cluster.server(at: role.address))) { _ = try await $0.send("FLUSHALL") }
        }
        for server in cluster.nodes { try await cluster.withNodeClient(server) { _ = try await $0.send("CONFIG", "RESETSTAT") } }
        let client = try cluster.makeClient {
            $0.node.connectTimeout = .milliseconds(250)
            $0.retryTimeout = .seconds(10)
            $0.minRefreshInterval = Self.minRefreshInterval
            $0.refreshJitter = .milliseconds(50)
            $0.maxRetryBackoff = .milliseconds(100)
        }
        do {
            try await measure(cluster, client, keys: keys, fault)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }

    private func measure(
        _ cluster: RedisClusterServer, _ client: RedisClusterClient, keys: [CacheKey],
        _ fault: (RedisClusterServer, RedisClusterClient) async throws -> Fault
    ) async throws {
        let load = ClusterLoad(keys: keys)
        var faultStart = ContinuousClock.now
        var affected: Set<Int> = []
        var statsAtFault = RedisClusterStats()
        var callsAtFault = 0
        var down: Set<RedisClusterNodeAddress> = []
        var promotedAt: @Sendable () -> ContinuousClock.Instant? = { nil }
        var afterRecovery: @Sendable (RedisClusterServer, RedisClusterClient) async throws -> Void = { _, _ in }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await load.run(client, writers: 6, readers: 2) }
            do {
                // A condition, not a pause: on a loaded 2-core run 300 writes have taken more than 10 s.
                try await Self.poll("the load to start", timeout: .seconds(40)) { load.acknowledged >= 300 }
                callsAtFault = try await RedisClusterFixture.commandCalls("cluster|shards", on: cluster)
                statsAtFault = client.stats
                faultStart = .now
                let outcome = try await fault(cluster, client)
                affected = Set(keys.indices.filter { outcome.affectedSlots.contains(RedisClusterClient.slot(of: keys[$0])) })
                down = outcome.down
                promotedAt = outcome.promotedAt
                afterRecovery = outcome.afterRecovery
                do {
                    try await Self.poll("the cluster to recover", timeout: .seconds(20)) { try await outcome.recovered() }
                } catch {
                    let roles = (try? await cluster.roles()) ?? []
                    throw RedisServerError(message: "\(error); client map: \(client.topology?.masters ?? []), stats \(client.stats)", log: "\(roles)")
                }
                let recoveredAt = ContinuousClock.now
                let acksAtRecovery = load.acknowledged
                try await Self.poll("writes after the recovery", timeout: .seconds(10)) {
                    load.acknowledged >= acksAtRecovery + 300 && ContinuousClock.now - recoveredAt > .milliseconds(500)
                }
                try await afterRecovery(cluster, client)
            } catch {
                load.stop()
                throw error
            }
            load.stop()
            try await group.waitForAll()
        }
        let end = ContinuousClock.now
        let problems = try await load.verifyFinal(client)
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        let ledger = load.ledger.withLock { ($0.wrong, $0.reads, $0.failures.count, $0.acks.count) }
        #expect(ledger.0.isEmpty, "reads that returned wrong bytes or lost writes: \(ledger.0.prefix(10))")
        #expect(ledger.1 > 100, "the readers ran: \(ledger.1) reads")
        let (gap, acksAfter) = load.longestAckGap(after: faultStart, affected: affected)
        #expect(!affected.isEmpty && acksAfter > 20, "writes to the affected slots went on: \(acksAfter) acknowledged")
        if let promoted = promotedAt() {
            // Writes to a dead master's slots wait for the cluster's own failover (node timeout,
            // then an election delayed 0.5–1 s): the bound counts from the promotion.
            let resumedAfterFault = gap
            // The client's own share: once the cluster has promoted the replica, writes resume
            // within a second (refresh interval, backoff, a connect).
            let resumed = load.ledger.withLock { s in s.acks.first { $0.at >= promoted && affected.contains($0.key) }?.at }
            let share = try #require(resumed) - promoted
            #expect(share <= .seconds(1), "writes resumed \(share) after the cluster promoted the replica")
            #expect(share <= Self.nodeTimeout + .seconds(2))
            print("cluster fault: the cluster promoted the replica \(promoted - faultStart) after the fault; writes resumed \(share) later (\(resumedAfterFault) after the fault)")
        } else {
            #expect(gap <= Self.nodeTimeout + .seconds(2), "writes to the affected slots resumed within the node timeout + 2 s: longest gap \(gap)")
        }
        let stats = client.stats
        let refreshes = stats.refreshes - statsAtFault.refreshes
        let answered = refreshes - (stats.refreshFailures - statsAtFault.refreshFailures)
        let seconds = Double((end - faultStart).components.seconds) + 1
        let bound = Int(seconds * 1000 / Double(Self.minRefreshInterval.components.attoseconds / 1_000_000_000_000_000)) + 2
        #expect(refreshes <= bound, "at most one refresh per \(Self.minRefreshInterval) (+2): \(refreshes) in \(seconds) s")
        let calls =
            try await RedisClusterFixture.commandCalls("cluster|shards", on: cluster, skipping: down)
            - callsAtFault
        // A node killed by the fault may have answered a refresh just before dying (its
        // statistics die with it): at most one each.
        #expect(calls + down.count >= answered && calls <= refreshes * cluster.nodes.count, "INFO commandstats: \(calls) CLUSTER SHARDS for \(refreshes) refreshes")
        print(
            "cluster fault: longest write gap \(gap), \(refreshes) refreshes (\(answered) answered, \(calls) CLUSTER SHARDS calls), "
                + "\(ledger.3) writes acknowledged, \(ledger.2) failed, \(ledger.1) reads, moved \(stats.moved), asked \(stats.asked), retries \(stats.retries)"
        )
    }

    static func poll(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw RedisServerError(message: "timed out waiting for \(what)", log: "") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func loadKeys(extra: [CacheKey] = []) -> [CacheKey] {
        (0..<120).map { CacheKey("load:\($0)") } + extra
    }

    @Test("a slot migrated during the load (SETSLOT MIGRATING/IMPORTING, MIGRATE): ASK, then MOVED")
    func migration() async throws {
        let tagged = (0..<30).map { CacheKey("{migrating}:\($0)") }
        let slot = RedisClusterSlot.of("migrating")
        var asked = 0
        try await withLoad(keys: Self.loadKeys(extra: tagged)) { cluster, client in
            let migration = try await cluster.beginMigration(of: slot)
            let target = migration.target
            #expect(client.topology?.master(forSlot: slot) == migration.source.address)
            try await cluster.withNodeClient(migration.sourceServer) { node in
                // A few keys at a time, so writes keep landing between the batches.
                while true {
                    guard let batch = try await node.send("CLUSTER", "GETKEYSINSLOT", slot, 3).elements, !batch.isEmpty else { break }
                    let keys: [any RESPArgument] = batch.compactMap { $0.bytes }
                    let reply = try await node.send("MIGRATE", arguments: [target.address.host, target.address.port, "", 0, 5000, "KEYS"] + keys)
                    #expect(reply.string == "OK" || reply.string == "NOKEY", "MIGRATE: \(reply)")
                }
            }
            try await cluster.handOver(slots: [slot], to: target)
            asked = client.stats.asked
            return Fault(affectedSlots: [slot]) { client.topology?.master(forSlot: slot) == target.address }
        }
        #expect(asked > 0, "writes during the migration were ASKed to the target")
    }

    @Test("a master killed with SIGKILL: its replica takes over, writes resume")
    func killedMaster() async throws {
        let cluster = try RedisClusterFixture.cluster()
        let killed = Mutex<RedisServer?>(nil)
        let failedOverAt = Mutex<ContinuousClock.Instant?>(nil)
        do {
            try await withLoad(keys: Self.loadKeys()) { cluster, client in
                let topology = try #require(client.topology)
                let victim = topology.masters[0]
                let server = try #require(cluster.server(at: victim))
                killed.withLock { $0 = server }
                let slots = Set(topology.slots(of: victim))
                let probe = try #require(slots.first)
                await server.stop()  // SIGKILL
                var fault = Fault(
                    affectedSlots: slots, down: [victim],
                    recovered: {
                        // The cluster's own view first (when its failover is done), then the client's.
                        if failedOverAt.withLock({ $0 }) == nil,
                            try await cluster.roles().contains(where: { $0.isMaster && !$0.failing && $0.address != victim && $0.masterID == nil && Self.owns($0, probe, cluster) })
                        {
                            failedOverAt.withLock { $0 = .now }
                        }
                        guard let owner = client.topology?.master(forSlot: probe) else { return false }
                        return owner != victim && failedOverAt.withLock({ $0 }) != nil
                    }, promotedAt: { failedOverAt.withLock { $0 } })
                fault.afterRecovery = { _, client in
                    // The dead master's client is closed, not kept with its broken connections.
                    try await Self.poll("the dead master's client to close", timeout: .seconds(10)) {
                        let nodes = client.nodeClients
                        return !nodes.addresses.contains(victim) && nodes.retiring == 0
                    }
                    #expect(client.stats.nodesClosed >= 1)
                }
                return fault
            }
        } catch {
            try? await killed.withLock({ $0 })?.restart()
            throw error
        }
        // Bring the old master back: it rejoins as a replica.
        try await killed.withLock({ $0 })?.restart()
        try await cluster.waitUntilHealthy()
    }

    /// The normal clients connected to `server` (`CLIENT LIST TYPE normal`: not its master
    /// link, not replicas), counting the probe's own connection.
    static func normalClients(_ server: RedisServer, in cluster: RedisClusterServer) async throws -> Int {
        let list = try await cluster.withNodeClient(server) { try await $0.send("CLIENT", "LIST", "TYPE", "normal").string ?? "" }
        return list.split(whereSeparator: \.isNewline).count
    }

    /// Whether `role` (a master) serves `slot`, by the cluster's own slot list.
    static func owns(_ role: RedisClusterServer.NodeRole, _ slot: Int, _ cluster: RedisClusterServer) -> Bool {
        role.slots.contains { $0.contains(slot) }
    }

    @Test("CLUSTER FAILOVER on a replica: the roles swap, writes resume")
    func manualFailover() async throws {
        try await withLoad(keys: Self.loadKeys()) { cluster, client in
            let roles = try await cluster.roles()
            let topology = try #require(client.topology)
            let master = try #require(roles.first { $0.address == topology.masters[1] })
            let replica = try #require(roles.first { $0.masterID == master.id })
            let slots = Set(topology.slots(of: master.address))
            try await cluster.withNodeClient(try #require(cluster.server(at: replica.address))) {
                _ = try await $0.send("CLUSTER", "FAILOVER")
            }
            var fault = Fault(affectedSlots: slots) {
                guard client.topology?.master(forSlot: slots.first!) == replica.address else { return false }
                return try await cluster.roles().contains { $0.address == replica.address && $0.isMaster }
            }
            fault.afterRecovery = { cluster, client in
                // The old master is a replica now: the client closes its connections to it.
                try await Self.poll("the old master's client to close", timeout: .seconds(10)) {
                    let nodes = client.nodeClients
                    return !nodes.addresses.contains(master.address) && nodes.retiring == 0
                }
                #expect(client.stats.nodesClosed >= 1)
                let oldMaster = try #require(cluster.server(at: master.address))
                // Only this probe's own connection is left on the old master (a replica's link to
                // its master is not a normal client).
                try await Self.poll("the old master's connections to close", timeout: .seconds(5)) {
                    try await Self.normalClients(oldMaster, in: cluster) == 1
                }
            }
            return fault
        }
        try await RedisClusterFixture.cluster().waitUntilHealthy()
    }
}
