import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The real Redis Cluster of the suite being run: set by ``RedisClusterTrait`` for the suite's
/// whole scope, so every test of the suite uses one cluster, started once.
enum RedisClusterFixture {
    @TaskLocal static var current: RedisClusterServer?

    /// The suite's cluster.
    /// - Throws: when the suite does not carry a ``RedisClusterTrait``.
    static func cluster() throws -> RedisClusterServer {
        guard let current else {
            throw RedisServerError(message: "this suite needs the .sharedRedisCluster or .ownRedisCluster trait", log: "")
        }
        return current
    }

    /// The options every test cluster runs with: debug commands on (as the single-node backend).
    static let options = RedisClusterServer.Options(
        node: RedisServer.Options(extraArguments: ["--enable-debug-command", "local"]), nodeTimeout: .milliseconds(2000)
    )

    /// Runs `body` alone on the shared cluster (the tests of every suite sharing it take turns),
    /// after emptying every master and resetting their command statistics.
    static func exclusive<R>(_ body: (RedisClusterServer) async throws -> R) async throws -> R {
        let cluster = try cluster()
        await ClusterTurns.shared.acquire()
        do {
            for role in try await cluster.roles() where role.isMaster && !role.failing {
                guard let server = cluster.server(at: role.address) else { continue }
                try await cluster.withNodeClient(server) { client in
                    _ = try await client.send("FLUSHALL")
                }
            }
            for server in cluster.nodes {
                try await cluster.withNodeClient(server) { _ = try await $0.send("CONFIG", "RESETSTAT") }
            }
            let result = try await body(cluster)
            await ClusterTurns.shared.release()
            return result
        } catch {
            await ClusterTurns.shared.release()
            throw error
        }
    }

    /// The sum over every node of `INFO commandstats`'s `calls` for `command` (e.g. `cluster|shards`).
    static func commandCalls(_ command: String, on cluster: RedisClusterServer, skipping down: Set<RedisClusterNodeAddress> = []) async throws -> Int {
        var total = 0
        for server in cluster.nodes where !down.contains(RedisClusterNodeAddress(host: server.host, port: server.port)) {
            let stats = try await cluster.withNodeClient(server) { try await $0.send("INFO", "commandstats").string ?? "" }
            for line in stats.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
                let digits = line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }
                total += Int(digits) ?? 0
            }
        }
        return total
    }
}

/// Takes turns: one body at a time, in arrival order.
actor ClusterTurns {
    static let shared = ClusterTurns()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
    }

    func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}

/// One cluster for every suite carrying `.sharedRedisCluster`: started by the first suite that
/// needs it, stopped when the last one ends.
actor SharedRedisCluster {
    static let shared = SharedRedisCluster()
    private var cluster: RedisClusterServer?
    private var users = 0
    private var starting = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async throws -> RedisClusterServer {
        while starting { await withCheckedContinuation { waiting.append($0) } }
        if let cluster {
            users += 1
            return cluster
        }
        starting = true
        defer {
            starting = false
            for waiter in waiting { waiter.resume() }
            waiting = []
        }
        let started = try await RedisClusterServer.start(RedisClusterFixture.options)
        cluster = started
        users += 1
        return started
    }

    func release() async {
        users -= 1
        guard users == 0, let cluster else { return }
        self.cluster = nil
        await cluster.stop()
    }
}

/// Gives a suite a real Redis Cluster for its whole run: the shared one, or its own.
struct RedisClusterTrait: SuiteTrait, TestScoping {
    /// Whether the suite shares the cluster with other suites (tests then take turns with
    /// ``RedisClusterFixture/exclusive(_:)``), or gets its own (for faults that break nodes).
    var shared: Bool

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        if shared {
            let cluster = try await SharedRedisCluster.shared.acquire()
            do {
                try await RedisClusterFixture.$current.withValue(cluster) { try await function() }
            } catch {
                await SharedRedisCluster.shared.release()
                throw error
            }
            await SharedRedisCluster.shared.release()
        } else {
            try await RedisClusterServer.withCluster(RedisClusterFixture.options) { cluster in
                try await RedisClusterFixture.$current.withValue(cluster) { try await function() }
            }
        }
    }
}

extension Trait where Self == RedisClusterTrait {
    /// The suite's tests run against the cluster shared by every suite with this trait.
    static var sharedRedisCluster: Self { RedisClusterTrait(shared: true) }
    /// The suite gets a cluster of its own (started once for the suite).
    static var ownRedisCluster: Self { RedisClusterTrait(shared: false) }
}
