import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
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

    @Option(help: "Use this server instead of starting one (redis://host:port). Default: $SPILLWAY_REDIS_URL when set, which keeps a password out of the process list.") var url: String?
    @Option(help: "Concurrent connections (redis-benchmark -c).") var connections = 50
    @Option(help: "Requests per measurement (redis-benchmark -n).") var requests = 200_000
    @Option(help: "Value size in bytes (redis-benchmark -d).") var valueSize = 100
    @Option(help: "Pipeline depth for the pipelined run (redis-benchmark -P).") var pipeline = 16
    @Option(help: "Rounds; each ratio is the median of the rounds' ratios, each rate the best round's.") var rounds = 3
    @Option(help: "The redis-benchmark binary.") var redisBenchmark = "redis-benchmark"
    @Flag(inversion: .prefixedNo, help: "Run the client's tasks on the event loops (EventLoopTaskExecutor), as docs/REDIS.md advises.")
    var loopAffinity = true
    @Option(help: "Event loop threads for the client (default: one per core, NIO's singleton group).")
    var eventLoops: Int?
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Profiling aid: run only our side of one measurement (set, get, pipelined-set, pipelined-get, bare, guarded), print its rate and CPU per operation, and no ratios.")
    var only: String?

    @Flag(help: "Cluster mode: RedisClusterClient against redis-benchmark --cluster on the same cluster (a 3-master cluster started for the run, or --url redis-cluster://…), SET and GET.")
    var cluster = false

    func run() async throws {
        if cluster {
            try await benchCluster()
            return
        }
        if let url = url ?? ProcessInfo.processInfo.environment["SPILLWAY_REDIS_URL"] {
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
        let group: MultiThreadedEventLoopGroup = eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0)) } ?? .singleton
        let client = try RedisClient(configuration: configuration, eventLoopGroup: group)
        let executors = loopAffinity ? EventLoopTaskExecutor.all(in: group) : []
        do {
            try await bench(client, base, executors)
            await client.close()
        } catch {
            await client.close()
            if eventLoops != nil { try? await group.shutdownGracefully() }
            throw error
        }
        if eventLoops != nil { try await group.shutdownGracefully() }
    }

    private func bench(_ client: RedisClient, _ base: RedisConfiguration, _ executors: [EventLoopTaskExecutor]) async throws {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: valueSize)
        let key: CacheKey = "key:__rand_int__"
        let set = CacheOperation.set(key, value, SetOptions())
        let get = CacheOperation.get(key)
        _ = try await client.execute(set)
        // Warm up: open every connection.
        _ = try await measure(executors: executors, concurrency: connections, total: connections * 200) { () async throws(CacheError) in _ = try await client.execute(get) }

        if let only {
            let setBatch: [[any RESPArgument]] = Array(repeating: ["SET", key, value], count: pipeline)
            let getBatch: [[any RESPArgument]] = Array(repeating: ["GET", key], count: pipeline)
            let cache = GuardedCache(client: client) {
                KeyGuard()
                LimitsGuard()
                Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
            }
            let mixed = { @Sendable (i: Int) -> CacheOperation in i % 2 == 0 ? set : get }
            for _ in 0..<rounds {
                let sample: Sample
                switch only {
                case "set": sample = try await measure(executors: executors, concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(set) }
                case "get": sample = try await measure(executors: executors, concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(get) }
                case "pipelined-set": sample = try await measure(executors: executors, concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(setBatch) }
                case "pipelined-get": sample = try await measure(executors: executors, concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(getBatch) }
                case "bare": sample = try await measure(executors: executors, concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in _ = try await client.execute(mixed(i)) }
                case "guarded": sample = try await measure(executors: executors, concurrency: connections, total: requests) { (i: Int) async throws(CacheError) in _ = try await cache.execute(mixed(i)) }
                default: throw ValidationError("--only takes set, get, pipelined-set, pipelined-get, bare or guarded")
                }
                print(String(format: "%@ %10.0f/s  %.2f µs CPU/op", only, sample.rate, sample.cpuMicros))
            }
            return
        }

        var reference = Reference()
        var ours = Ours()
        var guardedRatios: [Double] = []
        // Each round: redis-benchmark, ours, redis-benchmark again (A B A). The round's ratio is
        // ours ÷ the mean of the two reference runs around it, so a load that drifts during the
        // round weighs on both sides alike; the reported ratio is the median of the rounds'.
        var roundRatios = RoundRatios()
        var before = try referenceRuns(base)
        for _ in 0..<rounds {
            let setSample = try await measure(executors: executors, concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(set) }
            let getSample = try await measure(executors: executors, concurrency: connections, total: requests) { () async throws(CacheError) in _ = try await client.execute(get) }
            let setBatch: [[any RESPArgument]] = Array(repeating: ["SET", key, value], count: pipeline)
            let getBatch: [[any RESPArgument]] = Array(repeating: ["GET", key], count: pipeline)
            let pipelinedSetSample = try await measure(executors: executors, concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(setBatch) }
            let pipelinedGetSample = try await measure(executors: executors, concurrency: connections, total: requests, batch: pipeline) { () async throws(CacheError) in _ = try await client.pipeline(getBatch) }
            let after = try referenceRuns(base)
            for runs in [before, after] {
                reference.set = max(reference.set, runs.set)
                reference.get = max(reference.get, runs.get)
                reference.pipelinedSet = max(reference.pipelinedSet, runs.pipelinedSet)
                reference.pipelinedGet = max(reference.pipelinedGet, runs.pipelinedGet)
            }
            ours.set.keep(setSample)
            ours.get.keep(getSample)
            ours.pipelinedSet.keep(pipelinedSetSample)
            ours.pipelinedGet.keep(pipelinedGetSample)
            roundRatios.set.append(setSample.rate / ((before.set + after.set) / 2))
            roundRatios.get.append(getSample.rate / ((before.get + after.get) / 2))
            roundRatios.pipelinedSet.append(pipelinedSetSample.rate / ((before.pipelinedSet + after.pipelinedSet) / 2))
            roundRatios.pipelinedGet.append(pipelinedGetSample.rate / ((before.pipelinedGet + after.pipelinedGet) / 2))
            before = after

            let cache = GuardedCache(client: client) {
                KeyGuard()
                LimitsGuard()
                Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
            }
            let mixed = { @Sendable (i: Int) -> CacheOperation in i % 2 == 0 ? set : get }
            // Bare, guarded, guarded, bare (ABBA), half the requests each: a load that drifts
            // during the round weighs on both sides alike. The round's ratio is guarded ÷ bare
            // over the pair; the reported ratio is the median of the rounds'.
            let half = max(connections, requests / 2)
            let bare1 = try await measure(executors: executors, concurrency: connections, total: half) { (i: Int) async throws(CacheError) in _ = try await client.execute(mixed(i)) }
            let guarded1 = try await measure(executors: executors, concurrency: connections, total: half) { (i: Int) async throws(CacheError) in _ = try await cache.execute(mixed(i)) }
            let guarded2 = try await measure(executors: executors, concurrency: connections, total: half) { (i: Int) async throws(CacheError) in _ = try await cache.execute(mixed(i)) }
            let bare2 = try await measure(executors: executors, concurrency: connections, total: half) { (i: Int) async throws(CacheError) in _ = try await client.execute(mixed(i)) }
            for sample in [bare1, bare2] { ours.bare.keep(sample) }
            for sample in [guarded1, guarded2] { ours.guarded.keep(sample) }
            // Harmonic pairing: total operations over total time on each side.
            let guardedTime = 1 / guarded1.rate + 1 / guarded2.rate
            let bareTime = 1 / bare1.rate + 1 / bare2.rate
            guardedRatios.append(bareTime / guardedTime)
        }

        let setRatio = Self.median(roundRatios.set)
        let getRatio = Self.median(roundRatios.get)
        let pipelinedSetRatio = Self.median(roundRatios.pipelinedSet)
        let pipelinedGetRatio = Self.median(roundRatios.pipelinedGet)
        let pipelinedRatio = (pipelinedSetRatio + pipelinedGetRatio) / 2
        let guardedRatio = Self.median(guardedRatios)
        if json {
            let fields: [(String, Double)] = [
                ("set_ratio", setRatio), ("get_ratio", getRatio), ("pipelined_ratio", pipelinedRatio),
                ("pipelined_set_ratio", pipelinedSetRatio), ("pipelined_get_ratio", pipelinedGetRatio), ("guarded_ratio", guardedRatio),
                ("best_over_best_set_ratio", ours.set.rate / reference.set), ("best_over_best_get_ratio", ours.get.rate / reference.get),
                ("best_over_best_pipelined_set_ratio", ours.pipelinedSet.rate / reference.pipelinedSet),
                ("best_over_best_pipelined_get_ratio", ours.pipelinedGet.rate / reference.pipelinedGet),
                ("ours_set_rps", ours.set.rate), ("ours_get_rps", ours.get.rate), ("ours_pipelined_set_rps", ours.pipelinedSet.rate),
                ("ours_pipelined_get_rps", ours.pipelinedGet.rate), ("reference_set_rps", reference.set), ("reference_get_rps", reference.get),
                ("reference_pipelined_set_rps", reference.pipelinedSet), ("reference_pipelined_get_rps", reference.pipelinedGet),
                ("bare_mixed_rps", ours.bare.rate), ("guarded_mixed_rps", ours.guarded.rate),
                ("ours_set_cpu_us", ours.set.cpuMicros), ("ours_get_cpu_us", ours.get.cpuMicros),
                ("ours_pipelined_set_cpu_us", ours.pipelinedSet.cpuMicros), ("ours_pipelined_get_cpu_us", ours.pipelinedGet.cpuMicros),
                ("bare_mixed_cpu_us", ours.bare.cpuMicros), ("guarded_mixed_cpu_us", ours.guarded.cpuMicros),
            ]
            print("{" + fields.map { "\"\($0.0)\": \(($0.1 * 1000).rounded() / 1000)" }.joined(separator: ", ") + "}")
        } else {
            print("connections \(connections), value \(valueSize) B, \(requests) requests per run, \(rounds) rounds (ratios: median of rounds), loop affinity \(loopAffinity ? "on" : "off")")
            print(String(format: "SET            ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f (best/best %.3f; ours %.2f µs CPU/op)", ours.set.rate, reference.set, setRatio, ours.set.rate / reference.set, ours.set.cpuMicros))
            print(String(format: "GET            ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f (best/best %.3f; ours %.2f µs CPU/op)", ours.get.rate, reference.get, getRatio, ours.get.rate / reference.get, ours.get.cpuMicros))
            print(String(format: "SET -P %-3d     ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f (best/best %.3f; ours %.2f µs CPU/op)", pipeline, ours.pipelinedSet.rate, reference.pipelinedSet, pipelinedSetRatio, ours.pipelinedSet.rate / reference.pipelinedSet, ours.pipelinedSet.cpuMicros))
            print(String(format: "GET -P %-3d     ours %10.0f/s  redis-benchmark %10.0f/s  ratio %.3f (best/best %.3f; ours %.2f µs CPU/op)", pipeline, ours.pipelinedGet.rate, reference.pipelinedGet, pipelinedGetRatio, ours.pipelinedGet.rate / reference.pipelinedGet, ours.pipelinedGet.cpuMicros))
            print(String(format: "GuardedCache   %10.0f/s  bare client %10.0f/s  ratio %.3f (SET/GET mixed, median of ABBA rounds; CPU/op %.2f vs %.2f µs)", ours.guarded.rate, ours.bare.rate, guardedRatio, ours.guarded.cpuMicros, ours.bare.cpuMicros))
        }
    }

    /// Each round's ratio, ours ÷ the reference runs around it.
    struct RoundRatios {
        var set: [Double] = []
        var get: [Double] = []
        var pipelinedSet: [Double] = []
        var pipelinedGet: [Double] = []
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    struct Reference {
        var set = 0.0
        var get = 0.0
        var pipelinedSet = 0.0
        var pipelinedGet = 0.0
    }

    struct Ours {
        var set = Sample()
        var get = Sample()
        var pipelinedSet = Sample()
        var pipelinedGet = Sample()
        var bare = Sample()
        var guarded = Sample()
    }

    /// One measurement: operations per second, and this process's CPU time (user + system, all
    /// threads) per operation, in microseconds. ``keep(_:)`` keeps the best rate and the lowest CPU.
    struct Sample {
        var rate = 0.0
        var cpuMicros = Double.infinity

        mutating func keep(_ other: Sample) {
            rate = max(rate, other.rate)
            cpuMicros = min(cpuMicros, other.cpuMicros)
        }
    }

    /// This process's CPU time so far (user + system), in microseconds.
    private static func cpuMicros() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func micros(_ t: timeval) -> Double { Double(t.tv_sec) * 1e6 + Double(t.tv_usec) }
        return micros(usage.ru_utime) + micros(usage.ru_stime)
    }

    /// The CPU time (user + system) of the children that have exited and been waited for.
    static func childrenCPUMicros() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func micros(_ t: timeval) -> Double { Double(t.tv_sec) * 1e6 + Double(t.tv_usec) }
        return micros(usage.ru_utime) + micros(usage.ru_stime)
    }

    /// Runs `redis-benchmark -t set,get` without and with pipelining.
    private func referenceRuns(_ base: RedisConfiguration) throws -> Reference {
        let plain = try referenceRun(base, pipelined: false)
        let deep = try referenceRun(base, pipelined: true)
        return Reference(set: plain.set, get: plain.get, pipelinedSet: deep.set, pipelinedGet: deep.get)
    }

    /// Runs `redis-benchmark -t set,get` and returns its requests per second.
    private func referenceRun(_ base: RedisConfiguration, pipelined: Bool) throws -> (set: Double, get: Double) {
        var arguments = ["-h", base.host, "-p", String(base.port)]
        if pipelined { arguments += ["-P", String(pipeline)] }
        if let user = base.username { arguments += ["--user", user] }
        return try redisBenchmark(arguments, password: base.password)
    }

    /// Runs `redis-benchmark` with `arguments` and this command's `-c`, `-n`, `-d`, for SET and
    /// GET, and returns its requests per second. The password goes through the environment
    /// (`REDISCLI_AUTH`), never `-a`, which any user can read in the process list.
    func redisBenchmark(_ arguments: [String], password: String?) throws -> (set: Double, get: Double) {
        let process = Process()
        var environment = ProcessInfo.processInfo.environment
        environment["REDISCLI_AUTH"] = password
        process.environment = environment
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [redisBenchmark] + arguments + ["-c", String(connections), "-n", String(requests), "-d", String(valueSize), "-t", "set,get", "--csv"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let name = ([redisBenchmark] + arguments.prefix { $0.hasPrefix("--") }).joined(separator: " ")
        guard process.terminationStatus == 0 else { throw ValidationError("\(name) failed (exit \(process.terminationStatus))") }
        var rates: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count >= 2, let rate = Double(fields[1]) { rates[fields[0]] = rate }
        }
        guard let set = rates["SET"], let get = rates["GET"] else { throw ValidationError("could not read \(name)'s output") }
        return (set, get)
    }

    /// Runs `total` operations from `concurrency` tasks and returns operations per second
    /// (`batch` operations per call); `body` is given the task's number and the call's.
    func measure(
        executors: [EventLoopTaskExecutor], concurrency: Int, total: Int, batch: Int = 1,
        _ body: @escaping @Sendable (_ task: Int, _ call: Int) async throws(CacheError) -> Void
    ) async throws -> Sample {
        let calls = max(1, total / batch / concurrency)
        let clock = ContinuousClock()
        let cpuStart = Self.cpuMicros()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<concurrency {
                let work = { @Sendable () async throws(CacheError) in
                    for i in 0..<calls { try await body(task, i) }
                }
                if executors.isEmpty {
                    group.addTask { try await work() }
                } else {
                    group.addTask(executorPreference: executors[task % executors.count]) { try await work() }
                }
            }
            try await group.waitForAll()
        }
        let (s, a) = start.duration(to: clock.now).components
        let operations = Double(calls * concurrency * batch)
        return Sample(rate: operations / (Double(s) + Double(a) / 1e18), cpuMicros: (Self.cpuMicros() - cpuStart) / operations)
    }

    /// `measure` with `body` given the task's number plus the call's.
    func measure(
        executors: [EventLoopTaskExecutor], concurrency: Int, total: Int, batch: Int = 1, _ body: @escaping @Sendable (Int) async throws(CacheError) -> Void
    ) async throws -> Sample {
        try await measure(executors: executors, concurrency: concurrency, total: total, batch: batch) { (task: Int, call: Int) async throws(CacheError) in
            try await body(task &+ call)
        }
    }

    func measure(
        executors: [EventLoopTaskExecutor], concurrency: Int, total: Int, batch: Int = 1, _ body: @escaping @Sendable () async throws(CacheError) -> Void
    ) async throws -> Sample {
        try await measure(executors: executors, concurrency: concurrency, total: total, batch: batch) { (_: Int, _: Int) async throws(CacheError) in try await body() }
    }
}
