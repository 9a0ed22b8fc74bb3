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
        let masters = try await probe.masters()
        await probe.close()
        // redis-benchmark --cluster spreads its -c clients over the masters: the same here.
        configuration.node.maxConnections = max(1, (connections + masters.count - 1) / masters.count)
        let client = try RedisClusterClient(configuration: configuration)
        let executors = loopAffinity ? EventLoopTaskExecutor.all(in: MultiThreadedEventLoopGroup.singleton) : []
        do {
            try await benchCluster(client, seed: masters[0], executors)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }

    private func benchCluster(_ client: RedisClusterClient, seed: RedisClusterNodeAddress, _ executors: [EventLoopTaskExecutor]) async throws {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: valueSize)
        // Keys over every slot (redis-benchmark --cluster uses one hash-tagged key per master).
        let keys = (0..<4096).map { CacheKey("key:\($0)") }
        for key in keys.prefix(1024) { _ = try await client.execute(.set(key, value, SetOptions())) }
        _ = try await measure(executors: executors, concurrency: connections, total: connections * 200) { (i: Int) async throws(CacheError) in
            _ = try await client.execute(.get(keys[i & 1023]))
        }
        var ratios: (set: [Double], get: [Double]) = ([], [])
        var best: (set: Double, get: Double, refSet: Double, refGet: Double) = (0, 0, 0, 0)
        var before = try clusterReferenceRun(seed)
        for round in 0..<rounds {
            let offset = round * 7919
            let setSample = try await measure(executors: executors, concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in
                _ = try await client.execute(.set(keys[(i &* 31 &+ offset) & 4095], value, SetOptions()))
            }
            let getSample = try await measure(executors: executors, concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in
                _ = try await client.execute(.get(keys[(i &* 31 &+ offset) & 4095]))
            }
            let after = try clusterReferenceRun(seed)
            ratios.set.append(setSample.rate / ((before.set + after.set) / 2))
            ratios.get.append(getSample.rate / ((before.get + after.get) / 2))
            best = (max(best.set, setSample.rate), max(best.get, getSample.rate), max(best.refSet, before.set, after.set), max(best.refGet, before.get, after.get))
            before = after
        }
        let setRatio = Self.median(ratios.set)
        let getRatio = Self.median(ratios.get)
        let stats = client.stats
        if json {
            print(
                "{\"cluster_set_ratio\": \(setRatio), \"cluster_get_ratio\": \(getRatio), \"ours_set_rps\": \(best.set), \"ours_get_rps\": \(best.get), "
                    + "\"reference_set_rps\": \(best.refSet), \"reference_get_rps\": \(best.refGet), \"refreshes\": \(stats.refreshes), \"moved\": \(stats.moved)}"
            )
        } else {
            print("Redis Cluster: connections \(connections) in total, value \(valueSize) B, \(requests) requests per run, \(rounds) rounds (ratios: median of rounds), loop affinity \(loopAffinity ? "on" : "off")")
            print(String(format: "SET  RedisClusterClient %10.0f/s  redis-benchmark --cluster %10.0f/s  ratio %.3f", best.set, best.refSet, setRatio))
            print(String(format: "GET  RedisClusterClient %10.0f/s  redis-benchmark --cluster %10.0f/s  ratio %.3f", best.get, best.refGet, getRatio))
            print("topology refreshes \(stats.refreshes), MOVED \(stats.moved), ASK \(stats.asked)")
        }
    }

    /// `redis-benchmark --cluster -t set,get` against the cluster `seed` belongs to.
    private func clusterReferenceRun(_ seed: RedisClusterNodeAddress) throws -> (set: Double, get: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            redisBenchmark, "--cluster", "-h", seed.host, "-p", String(seed.port), "-c", String(connections), "-n", String(requests),
            "-d", String(valueSize), "-t", "set,get", "--csv",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("redis-benchmark --cluster failed (exit \(process.terminationStatus))") }
        var rates: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count >= 2, let rate = Double(fields[1]) { rates[fields[0]] = rate }
        }
        guard let set = rates["SET"], let get = rates["GET"] else { throw ValidationError("could not read redis-benchmark --cluster's output") }
        return (set, get)
    }
}
