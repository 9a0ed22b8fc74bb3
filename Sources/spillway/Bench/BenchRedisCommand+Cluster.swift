import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import SpillwayTesting

extension BenchRedisCommand {
    /// `spillway bench redis --cluster`: `RedisClusterClient` against `redis-benchmark --cluster`
    /// on the same cluster, SET and GET with the same connections in total and value size; each
    /// round is redis-benchmark, ours, redis-benchmark (A B A) and its ratio is ours ÷ the mean of
    /// the two reference runs; the reported ratio is the median of the rounds'.
    func benchCluster() async throws {
        if let url = url ?? ProcessInfo.processInfo.environment["SPILLWAY_REDIS_URL"] {
            guard url.hasPrefix("redis-cluster://") else { throw ValidationError("--cluster needs a redis-cluster:// URL") }
            try await benchCluster(RedisClusterConfiguration(url: url))
        } else {
            // No replicas: on a small machine they would only take CPU from both sides alike.
            let options = RedisClusterServer.Options(node: RedisServer.Options(maxMemory: 1 << 30), replicasPerMaster: 0)
            try await RedisClusterServer.withCluster(options) { cluster in
                try await benchCluster(RedisClusterConfiguration(seeds: cluster.addresses))
            }
        }
    }

    private func benchCluster(_ base: RedisClusterConfiguration) async throws {
        var configuration = base
        let probe = try RedisClusterClient(configuration: base)
        try await probe.refreshTopology()
        let topology = probe.topology
        await probe.close()
        guard let topology, !topology.masters.isEmpty else { throw ValidationError("the cluster has no master serving slots") }
        // redis-benchmark --cluster spreads its -c clients over the masters, each client sending
        // to one master only: the same here (task t sends keys of master t mod masters), with as
        // many connections per master as tasks sending to it.
        configuration.node.maxConnections = max(1, (connections + topology.masters.count - 1) / topology.masters.count)
        let group: MultiThreadedEventLoopGroup = eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) } ?? .singleton
        let client = try RedisClusterClient(configuration: configuration, eventLoopGroup: group)
        let executors = loopAffinity ? EventLoopTaskExecutor.all(in: group) : []
        do {
            try await benchCluster(client, topology, executors)
            await client.close()
        } catch {
            await client.close()
            if eventLoops != nil { try? await group.shutdownGracefully() }
            throw error
        }
        if eventLoops != nil { try await group.shutdownGracefully() }
    }

    /// 1,024 keys per master, over many of its slots (redis-benchmark --cluster uses one
    /// hash-tagged key per master: ours are routed slot by slot).
    static func keysByMaster(_ topology: RedisClusterTopology) -> [[CacheKey]] {
        var keys = topology.masters.map { _ in [CacheKey]() }
        var n = 0
        while keys.contains(where: { $0.count < 1024 }) {
            let key = CacheKey("key:\(n)")
            n += 1
            guard let master = topology.master(forSlot: RedisClusterClient.slot(of: key)), let index = topology.masters.firstIndex(of: master),
                keys[index].count < 1024
            else { continue }
            keys[index].append(key)
        }
        return keys
    }

    private func benchCluster(_ client: RedisClusterClient, _ topology: RedisClusterTopology, _ executors: [EventLoopTaskExecutor]) async throws {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: valueSize)
        let keys = Self.keysByMaster(topology)
        let masters = keys.count
        for key in keys.joined() { _ = try await client.execute(.set(key, value, SetOptions())) }
        let seed = topology.masters[0]
        // redis-benchmark's CPU per command (user + system, from the children's rusage once it
        // has exited), for the same figure as ours: the client's cost, which hardly moves with the
        // machine's load while throughput does.
        var referenceCPU: [Double] = []
        let reference = { () throws -> (set: Double, get: Double) in
            let cpuBefore = Self.childrenCPUMicros()
            let rates = try redisBenchmark(["--cluster", "-h", seed.host, "-p", String(seed.port)], password: client.configuration.node.password)
            referenceCPU.append((Self.childrenCPUMicros() - cpuBefore) / Double(2 * requests))
            return rates
        }
        // Warm up: open every connection.
        _ = try await measure(executors: executors, concurrency: connections, total: connections * 200) { (task: Int, call: Int) async throws(CacheError) in
            _ = try await client.execute(.get(keys[task % masters][call & 1023]))
        }
        if let only {
            // Profiling aid: our side of one measurement only, no reference, no ratio.
            for round in 0..<rounds {
                let offset = round * 7919
                let sample: Sample
                switch only {
                case "set":
                    sample = try await measure(executors: executors, concurrency: connections, total: requests) { (task: Int, call: Int) async throws(CacheError) in
                        _ = try await client.execute(.set(keys[task % masters][(call &* 31 &+ task &+ offset) & 1023], value, SetOptions()))
                    }
                case "get":
                    sample = try await measure(executors: executors, concurrency: connections, total: requests) { (task: Int, call: Int) async throws(CacheError) in
                        _ = try await client.execute(.get(keys[task % masters][(call &* 31 &+ task &+ offset) & 1023]))
                    }
                default: throw ValidationError("--only with --cluster takes set or get")
                }
                print(String(format: "%@ %10.0f/s  %.2f µs CPU/op", only, sample.rate, sample.cpuMicros))
            }
            return
        }
        var ratios: (set: [Double], get: [Double]) = ([], [])
        var oursCPU: [Double] = []
        var best: (set: Double, get: Double, refSet: Double, refGet: Double) = (0, 0, 0, 0)
        var before = try reference()
        for round in 0..<rounds {
            let offset = round * 7919
            let setSample = try await measure(executors: executors, concurrency: connections, total: requests) { (task: Int, call: Int) async throws(CacheError) in
                _ = try await client.execute(.set(keys[task % masters][(call &* 31 &+ task &+ offset) & 1023], value, SetOptions()))
            }
            let getSample = try await measure(executors: executors, concurrency: connections, total: requests) { (task: Int, call: Int) async throws(CacheError) in
                _ = try await client.execute(.get(keys[task % masters][(call &* 31 &+ task &+ offset) & 1023]))
            }
            oursCPU.append((setSample.cpuMicros + getSample.cpuMicros) / 2)
            let after = try reference()
            ratios.set.append(setSample.rate / ((before.set + after.set) / 2))
            ratios.get.append(getSample.rate / ((before.get + after.get) / 2))
            best = (max(best.set, setSample.rate), max(best.get, getSample.rate), max(best.refSet, before.set, after.set), max(best.refGet, before.get, after.get))
            before = after
        }
        let setRatio = Self.median(ratios.set)
        let getRatio = Self.median(ratios.get)
        let stats = client.stats
        let cpu = (ours: Self.median(oursCPU), reference: Self.median(referenceCPU))
        if json {
            print(
                "{\"cluster_set_ratio\": \(setRatio), \"cluster_get_ratio\": \(getRatio), \"ours_set_rps\": \(best.set), \"ours_get_rps\": \(best.get), "
                    + "\"reference_set_rps\": \(best.refSet), \"reference_get_rps\": \(best.refGet), \"ours_cpu_us\": \(cpu.ours), \"reference_cpu_us\": \(cpu.reference), "
                    + "\"refreshes\": \(stats.refreshes), \"moved\": \(stats.moved)}"
            )
        } else {
            print(
                "Redis Cluster: connections \(connections) in total, value \(valueSize) B, \(requests) requests per run, \(rounds) rounds (ratios: median of rounds), loop affinity \(loopAffinity ? "on" : "off"), event loops \(eventLoops.map(String.init) ?? "one per core")"
            )
            print(String(format: "SET  RedisClusterClient %10.0f/s  redis-benchmark --cluster %10.0f/s  ratio %.3f", best.set, best.refSet, setRatio))
            print(String(format: "GET  RedisClusterClient %10.0f/s  redis-benchmark --cluster %10.0f/s  ratio %.3f", best.get, best.refGet, getRatio))
            print(String(format: "client CPU per command (median of runs, SET and GET together): RedisClusterClient %.2f µs, redis-benchmark --cluster %.2f µs", cpu.ours, cpu.reference))
            print("topology refreshes \(stats.refreshes), MOVED \(stats.moved), ASK \(stats.asked)")
        }
    }
}
