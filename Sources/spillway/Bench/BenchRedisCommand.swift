import ArgumentParser
import Foundation
import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting

/// `spillway bench redis`: Spillway's Redis client against `redis-benchmark` on the same
/// `redis-server`, with the same connections and value size, and `GuardedCache` with the full
/// chain against the bare client. Ratios are ours ÷ the reference, measured in one run.
struct BenchRedisCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "RedisClient vs redis-benchmark (SET/GET, pipelined) and GuardedCache vs the bare client, as ratios."
    )

    @Option(help: "Use this server instead of starting one (redis://host:port).") var url: String?
    @Option(help: "Concurrent connections (redis-benchmark -c).") var connections = 50
    @Option(help: "Requests per measurement (redis-benchmark -n).") var requests = 200_000
    @Option(help: "Value size in bytes (redis-benchmark -d).") var valueSize = 100
    @Option(help: "Pipeline depth for the pipelined run (redis-benchmark -P).") var pipeline = 16
    @Option(help: "Measurements of each kind; the best is kept.") var rounds = 3
    @Option(help: "The redis-benchmark binary.") var redisBenchmark = "redis-benchmark"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        if let url {
            try await bench(RedisConfiguration(url: url))
        } else {
            try await RedisServer.withRedisServer(RedisServer.Options(maxMemory: 1 << 30)) { server in
                try await bench(RedisConfiguration(host: server.host, port: server.port))
            }
        }
    }

    private func bench(_ base: RedisConfiguration) async throws {
        var configuration = base
        configuration.maxConnections = connections
        let client = try RedisClient(configuration: configuration)
        do {
            try await bench(client, base)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }

    private func bench(_ client: RedisClient, _ base: RedisConfiguration) async throws {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: valueSize)
        let key: CacheKey = "key:__rand_int__"
        let set = CacheOperation.set(key, value, SetOptions())
        let get = CacheOperation.get(key)
        _ = try await client.execute(set)
        // Warm up: open every connection.
        _ = try await measure(concurrency: connections, total: connections * 200) { () async throws(CacheError) in _ = try await client.execute(get) }

        var reference = Reference()
        var ours = Ours()
        for _ in 0..<rounds {
            let plain = try referenceRun(base, pipelined: false)
            reference.set = max(reference.set, plain.set)
            reference.get = max(reference.get, plain.get)
            let deep = try referenceRun(base, pipelined: true)
            reference.pipelinedSet = max(reference.pipelinedSet, deep.set)
            reference.pipelinedGet = max(reference.pipelinedGet, deep.get)

            ours.set = max(ours.set, try await measure(concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(set) })
            ours.get = max(ours.get, try await measure(concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(get) })
            let setBatch: [[any RESPArgument]] = Array(repeating: ["SET", key, value], count: pipeline)
            let getBatch: [[any RESPArgument]] = Array(repeating: ["GET", key], count: pipeline)
            ours.pipelinedSet = max(ours.pipelinedSet, try await measure(concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(setBatch) })
            ours.pipelinedGet = max(ours.pipelinedGet, try await measure(concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(getBatch) })

            let cache = GuardedCache(client: client) {
                KeyGuard()
                LimitsGuard()
                Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
            }
            let mixed = { @Sendable (i: Int) -> CacheOperation in i % 2 == 0 ? set : get }
            ours.bare = max(ours.bare, try await measure(concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in _ = try await client.execute(mixed(i)) })
            ours.guarded = max(ours.guarded, try await measure(concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in _ = try await cache.execute(mixed(i)) })
        }

        let setRatio = ours.set / reference.set
        let getRatio = ours.get / reference.get
        let pipelinedSetRatio = ours.pipelinedSet / reference.pipelinedSet
        let pipelinedGetRatio = ours.pipelinedGet / reference.pipelinedGet
        let pipelinedRatio = (pipelinedSetRatio + pipelinedGetRatio) / 2
        let guardedRatio = ours.guarded / ours.bare
        if json {
            let fields: [(String, Double)] = [
                ("set_ratio", setRatio), ("get_ratio", getRatio), ("pipelined_ratio", pipelinedRatio),
                ("pipelined_set_ratio", pipelinedSetRatio), ("pipelined_get_ratio", pipelinedGetRatio), ("guarded_ratio", guardedRatio),
                ("ours_set_rps", ours.set), ("ours_get_rps", ours.get), ("ours_pipelined_set_rps", ours.pipelinedSet),
                ("ours_pipelined_get_rps", ours.pipelinedGet), ("reference_set_rps", reference.set), ("reference_get_rps", reference.get),
                ("reference_pipelined_set_rps", reference.pipelinedSet), ("reference_pipelined_get_rps", reference.pipelinedGet),
                ("bare_mixed_rps", ours.bare), ("guarded_mixed_rps", ours.guarded),
            ]
            print("{" + fields.map { "\"\($0.0)\": \(($0.1 * 1000).rounded() / 1000)" }.joined(separator: ", ") + "}")
        } else {
            print("connections \(connections), value \(valueSize) B, \(requests) requests per run, best of \(rounds)")
            print(String(format: "SET            ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f", ours.set, reference.set, setRatio))
            print(String(format: "GET            ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f", ours.get, reference.get, getRatio))
            print(String(format: "SET -P %-3d     ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f", pipeline, ours.pipelinedSet, reference.pipelinedSet, pipelinedSetRatio))
            print(String(format: "GET -P %-3d     ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f", pipeline, ours.pipelinedGet, reference.pipelinedGet, pipelinedGetRatio))
            print(String(format: "GuardedCache   %10.0f/s  bare client %10.0f/s  ratio %.3f (SET/GET mixed)", ours.guarded, ours.bare, guardedRatio))
        }
    }

    struct Reference {
        var set = 0.0
        var get = 0.0
        var pipelinedSet = 0.0
        var pipelinedGet = 0.0
    }

    struct Ours {
        var set = 0.0
        var get = 0.0
        var pipelinedSet = 0.0
        var pipelinedGet = 0.0
        var bare = 0.0
        var guarded = 0.0
    }

    /// Runs `redis-benchmark -t set,get` and returns its requests per second.
    private func referenceRun(_ base: RedisConfiguration, pipelined: Bool) throws -> (set: Double, get: Double) {
        var arguments = [
            "-h", base.host, "-p", String(base.port), "-c", String(connections), "-n", String(requests),
            "-d", String(valueSize), "-t", "set,get", "--csv",
        ]
        if pipelined { arguments += ["-P", String(pipeline)] }
        if let password = base.password { arguments += ["-a", password, "--no-auth-warning"] }
        if let user = base.username { arguments += ["--user", user] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [redisBenchmark] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("redis-benchmark failed (exit \(process.terminationStatus))") }
        var rates: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count >= 2, let rate = Double(fields[1]) { rates[fields[0]] = rate }
        }
        guard let set = rates["SET"], let get = rates["GET"] else { throw ValidationError("could not read redis-benchmark's output") }
        return (set, get)
    }

    /// Runs `total` operations from `concurrency` tasks and returns operations per second
    /// (`batch` operations per call).
    private func measure(
        concurrency: Int, total: Int, batch: Int = 1, _ body: @escaping @Sendable (Int) async throws(CacheError) -> Void
    ) async throws -> Double {
        let calls = max(1, total / batch / concurrency)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<concurrency {
                group.addTask {
                    for i in 0..<calls { try await body(task &+ i) }
                }
            }
            try await group.waitForAll()
        }
        let (s, a) = start.duration(to: clock.now).components
        return Double(calls * concurrency * batch) / (Double(s) + Double(a) / 1e18)
    }

    private func measure(
        concurrency: Int, total: Int, batch: Int = 1, _ body: @escaping @Sendable () async throws(CacheError) -> Void
    ) async throws -> Double {
        try await measure(concurrency: concurrency, total: total, batch: batch) { (_: Int) async throws(CacheError) in try await body() }
    }
}
