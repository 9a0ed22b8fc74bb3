import Foundation
public import SpillwayRedis
import Synchronization

/// A real Redis Cluster for tests: `redis-server` processes in cluster mode on 127.0.0.1 and
/// free ports (3 masters with one replica each by default), joined by
/// `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`, each with its own
/// directory under a fresh temporary one and a short `cluster-node-timeout`, and torn down
/// afterwards (also when starting fails half-way).
///
/// ``start(_:)`` returns once every node reports `cluster_state:ok` with all slots assigned, knows
/// every other node, and every replica's link to its master is up. Nothing is skipped: when
/// `redis-server` or `redis-cli` is missing or the cluster does not form, it throws
/// ``RedisServerError`` with the tools' output.
public final class RedisClusterServer: Sendable {
    /// How the cluster is started.
    public struct Options: Sendable {
        /// The options of every node (its `extraArguments` come before the cluster's own).
        public var node: RedisServer.Options
        /// The `redis-cli` binary: `SPILLWAY_REDIS_CLI` if set, else next to `redis-server`, else
        /// the first on `PATH`.
        public var cliExecutable: String
        /// The number of masters (at least 3: `redis-cli` refuses fewer).
        public var masters: Int
        /// Replicas per master.
        public var replicasPerMaster: Int
        /// `cluster-node-timeout`: how long a node may be unreachable before it is failed over.
        public var nodeTimeout: Duration
        /// How long forming the cluster may take.
        public var startTimeout: Duration

        /// Creates options.
        public init(
            node: RedisServer.Options = RedisServer.Options(),
            cliExecutable: String? = nil,
            masters: Int = 3,
            replicasPerMaster: Int = 1,
            nodeTimeout: Duration = .milliseconds(2000),
            startTimeout: Duration = .seconds(30)
        ) {
            self.node = node
            self.cliExecutable = cliExecutable ?? Self.defaultCLI(next: node.executable)
            self.masters = masters
            self.replicasPerMaster = replicasPerMaster
            self.nodeTimeout = nodeTimeout
            self.startTimeout = startTimeout
        }

        static func defaultCLI(next server: String) -> String {
            let environment = ProcessInfo.processInfo.environment
            if let path = environment["SPILLWAY_REDIS_CLI"], !path.isEmpty { return path }
            let sibling = URL(fileURLWithPath: server).deletingLastPathComponent().appendingPathComponent("redis-cli").path
            if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
            for directory in (environment["PATH"] ?? "").split(separator: ":") {
                let candidate = "\(directory)/redis-cli"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            return "/usr/bin/redis-cli"
        }
    }

    /// The options the cluster runs with.
    public let options: Options
    /// Every node, masters first as `redis-cli` was given them (roles change with failovers:
    /// ask ``roles()``).
    public let nodes: [RedisServer]
    private let stopped = Mutex(false)
    /// The directory holding the nodes' files.
    let directory: URL

    /// Every node's address.
    public var addresses: [RedisClusterNodeAddress] { nodes.map { RedisClusterNodeAddress(host: $0.host, port: $0.port) } }

    /// `redis-cluster://[:password@]127.0.0.1:port,…` naming every node.
    public var url: String {
        let auth = options.node.password.map { ":\($0)@" } ?? ""
        return "redis-cluster://\(auth)" + addresses.map(\.description).joined(separator: ",")
    }

    private init(options: Options, nodes: [RedisServer], directory: URL) {
        self.options = options
        self.nodes = nodes
        self.directory = directory
    }

    /// Starts the nodes, creates the cluster and waits until it is healthy.
    /// - Throws: ``RedisServerError`` when a tool is missing or the cluster does not form.
    public static func start(_ options: Options = Options()) async throws -> RedisClusterServer {
        guard options.masters >= 3 else { throw RedisServerError(message: "a Redis Cluster needs at least 3 masters", log: "") }
        guard FileManager.default.isExecutableFile(atPath: options.cliExecutable) else {
            throw RedisServerError(
                message: "redis-cli not found at \(options.cliExecutable); install redis-tools (scripts/deps.sh) or set SPILLWAY_REDIS_CLI", log: ""
            )
        }
        // One cluster at a time in a process: six nodes each, failovers that wait on node
        // timeouts, and a full test run starting several suites at once made clusters miss
        // their health deadline and answer each other's MOVED.
        await ClusterTurn.shared.acquire()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-cluster-\(UUID().uuidString)")
        var started: [RedisServer] = []
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let count = options.masters * (1 + options.replicasPerMaster)
            for index in 0..<count {
                var nodeOptions = options.node
                nodeOptions.extraArguments += [
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(index).conf",
                    "--cluster-node-timeout", String(options.nodeTimeout.milliseconds), "--dir", directory.path,
                    // The bus port is chosen free too: the default, port + 10000, can be another
                    // process's port (or beyond 65535 for a high ephemeral port).
                    "--cluster-port", String(try await RedisServer.freePort()),
                ]
                if let password = options.node.password { nodeOptions.extraArguments += ["--masterauth", password] }
                started.append(try await RedisServer.start(nodeOptions))
            }
            let cluster = RedisClusterServer(options: options, nodes: started, directory: directory)
            var arguments = ["--cluster", "create"] + cluster.addresses.map(\.description)
            arguments += ["--cluster-replicas", String(options.replicasPerMaster), "--cluster-yes"]
            if let password = options.node.password { arguments += ["-a", password, "--no-auth-warning"] }
            let (status, output) = try await runTool(options.cliExecutable, arguments)
            guard status == 0 else {
                throw RedisServerError(message: "redis-cli --cluster create failed with status \(status)", log: output)
            }
            try await cluster.waitUntilHealthy(timeout: options.startTimeout)
            return cluster
        } catch {
            for server in started { await server.stop() }
            try? FileManager.default.removeItem(at: directory)
            await ClusterTurn.shared.release()
            throw error
        }
    }

    /// Runs `body` with a fresh cluster, and tears it down afterwards whatever happens.
    public static func withCluster<R>(_ options: Options = Options(), _ body: (RedisClusterServer) async throws -> R) async throws -> R {
        let cluster = try await start(options)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    /// Stops every node (SIGKILL) and removes the directory. Safe to call twice.
    public func stop() async {
        for server in nodes { await server.stop() }
        try? FileManager.default.removeItem(at: directory)
        if stopped.withLock({ was in
            defer { was = true }
            return !was
        }) {
            await ClusterTurn.shared.release()
        }
    }

    /// A cluster client seeded with every node. Close it when done.
    public func makeClient(_ configure: (inout RedisClusterConfiguration) -> Void = { _ in }) throws -> RedisClusterClient {
        var configuration = RedisClusterConfiguration(
            seeds: addresses, node: RedisConfiguration(password: options.node.password, connectTimeout: .seconds(1))
        )
        configure(&configuration)
        return try RedisClusterClient(configuration: configuration)
    }

    /// The node listening at `address`.
    public func server(at address: RedisClusterNodeAddress) -> RedisServer? {
        nodes.first { $0.port == address.port && $0.host == address.host }
    }

    /// Runs `body` with a single-node client of `server` (one connection), closing it after.
    public func withNodeClient<R>(_ server: RedisServer, _ body: (RedisClient) async throws -> R) async throws -> R {
        let client = try server.makeClient {
            $0.maxConnections = 1; $0.connectTimeout = .milliseconds(500)
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// A node's role as `CLUSTER NODES` reports it.
    public struct NodeRole: Sendable, Hashable {
        /// The node's ID.
        public var id: String
        /// The node's address.
        public var address: RedisClusterNodeAddress
        /// Whether it is a master.
        public var isMaster: Bool
        /// A replica's master's ID.
        public var masterID: String?
        /// Whether the cluster flags it as failed (`fail` or `fail?`).
        public var failing: Bool
        /// The slot ranges a master serves.
        public var slots: [ClosedRange<Int>]
    }

    /// The roles every node has, as `CLUSTER NODES` on the first reachable node reports them.
    /// - Throws: when no node answers.
    public func roles() async throws -> [NodeRole] {
        var lastError: (any Error)?
        for server in nodes {
            do {
                let text = try await withNodeClient(server) { try await $0.send("CLUSTER", "NODES").string ?? "" }
                return Self.parseNodes(text)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RedisServerError(message: "no cluster node answered CLUSTER NODES", log: "")
    }

    static func parseNodes(_ text: String) -> [NodeRole] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8 else { return nil }
            let endpoint = fields[1].split(separator: "@")[0]
            guard let address = RedisClusterNodeAddress(endpoint) else { return nil }
            let flags = fields[2].split(separator: ",")
            let slots: [ClosedRange<Int>] = fields.dropFirst(8).compactMap { field in
                if field.hasPrefix("[") { return nil }  // a migration in progress, not a served range
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                guard let first = bounds.first, let last = bounds.last, first <= last else { return nil }
                return first...last
            }
            return NodeRole(
                id: String(fields[0]), address: address, isMaster: flags.contains("master"),
                masterID: fields[3] == "-" ? nil : String(fields[3]), failing: flags.contains("fail") || flags.contains("fail?"),
                slots: slots
            )
        }
    }

    /// Hands `slots` to `target` the way a resharding tool finishes a migration: the target is
    /// set `IMPORTING` and each current owner `MIGRATING`, then `SETSLOT … NODE` goes to the
    /// target first (which bumps its config epoch, because it was importing), then to the old
    /// owner and the other masters. Without the bump, a replica of the old owner that has not
    /// heard the news yet can gossip the old owner's claim back over the move, and the two
    /// masters then answer `MOVED` to each other until gossip settles.
    ///
    /// The keys in the slots are not migrated: use it for empty slots, or `MIGRATE` them between
    /// the two steps yourself. Replicas learn the change by gossip, as in production.
    public func handOver(slots: [Int], to target: NodeRole) async throws {
        let roles = try await roles()
        let masters = roles.filter(\.isMaster)
        var owners: [Int: NodeRole] = [:]
        for slot in slots {
            guard let owner = masters.first(where: { $0.slots.contains { $0.contains(slot) } }) else {
                throw RedisServerError(message: "no master serves slot \(slot)", log: "")
            }
            if owner.id != target.id { owners[slot] = owner }
        }
        guard !owners.isEmpty else { return }
        func on(_ role: NodeRole, _ body: (RedisClient) async throws -> Void) async throws {
            guard let server = server(at: role.address) else { throw RedisServerError(message: "no node at \(role.address)", log: "") }
            try await withNodeClient(server, body)
        }
        try await on(target) { node in
            for (slot, owner) in owners { _ = try await node.send("CLUSTER", "SETSLOT", slot, "IMPORTING", owner.id) }
        }
        for owner in Set(owners.values) {
            try await on(owner) { node in
                for (slot, o) in owners where o == owner { _ = try await node.send("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id) }
            }
        }
        let order = [target] + Set(owners.values).sorted { $0.id < $1.id } + masters.filter { m in m.id != target.id && !owners.values.contains(m) }
        for master in order {
            try await on(master) { node in
                for slot in owners.keys.sorted() { _ = try await node.send("CLUSTER", "SETSLOT", slot, "NODE", target.id) }
            }
        }
    }

    /// A slot's migration begun by ``beginMigration(of:)``: the master serving the slot and the
    /// master it is moving to, with their servers.
    public struct Migration: Sendable {
        /// The master that serves the slot (`MIGRATING`).
        public var source: NodeRole
        /// The master it moves to (`IMPORTING`).
        public var target: NodeRole
        /// The source's server.
        public var sourceServer: RedisServer
        /// The target's server.
        public var targetServer: RedisServer
    }

    /// Begins moving `slot` from the master that serves it to another master, as a reshard does:
    /// `CLUSTER SETSLOT … IMPORTING` on the target, then `MIGRATING` on the source. From then on
    /// the source answers `ASK` for keys of the slot it does not hold. The keys are not moved:
    /// `MIGRATE` them yourself, then ``handOver(slots:to:)`` the slot to `target` to finish.
    /// - Throws: ``RedisServerError`` when no master serves the slot or no other master exists.
    public func beginMigration(of slot: Int) async throws -> Migration {
        let masters = try await roles().filter(\.isMaster)
        guard let source = masters.first(where: { $0.slots.contains { $0.contains(slot) } }),
            let target = masters.first(where: { $0.id != source.id && !$0.failing }),
            let sourceServer = server(at: source.address), let targetServer = server(at: target.address)
        else { throw RedisServerError(message: "no source and target master for slot \(slot)", log: "") }
        try await withNodeClient(targetServer) { _ = try await $0.send("CLUSTER", "SETSLOT", slot, "IMPORTING", source.id) }
        try await withNodeClient(sourceServer) { _ = try await $0.send("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id) }
        return Migration(source: source, target: target, sourceServer: sourceServer, targetServer: targetServer)
    }

    /// Polls until every running node reports `cluster_state:ok` with all 16,384 slots assigned
    /// and agrees on one configuration, knows every node, and every replica's link is up.
    /// - Throws: ``RedisServerError`` with the last state seen when `timeout` passes first.
    public func waitUntilHealthy(timeout: Duration = .seconds(30), skipping down: Set<RedisClusterNodeAddress> = []) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while true {
            var healthy = true
            var views: Set<String> = []
            for server in nodes where !down.contains(RedisClusterNodeAddress(host: server.host, port: server.port)) {
                do {
                    let (info, replication, nodesText) = try await withNodeClient(server) { client in
                        (
                            try await client.send("CLUSTER", "INFO").string ?? "", try await client.send("INFO", "replication").string ?? "",
                            try await client.send("CLUSTER", "NODES").string ?? ""
                        )
                    }
                    // Every node must see the same masters serving the same slots.
                    views.insert(
                        Self.parseNodes(nodesText).filter { $0.isMaster && !$0.slots.isEmpty }
                            .map { "\($0.address):\($0.slots.map { "\($0.lowerBound)-\($0.upperBound)" })" }.sorted().joined(separator: " ")
                    )
                    let ok =
                        info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384")
                        && info.contains("cluster_slots_ok:16384") && info.contains("cluster_known_nodes:\(nodes.count)")
                    let linked = !replication.contains("role:slave") || replication.contains("master_link_status:up")
                    if !(ok && linked) {
                        healthy = false
                        last = "\(server.port): \(info.prefix(200)) \(linked ? "" : "replica link down")"
                        break
                    }
                } catch {
                    healthy = false
                    last = "\(server.port): \(error)"
                    break
                }
            }
            if healthy && views.count > 1 {
                healthy = false
                last = "nodes disagree on the masters: \(views)"
            }
            if healthy { return }
            guard ContinuousClock.now < deadline else {
                throw RedisServerError(message: "the Redis Cluster did not become healthy within \(timeout)", log: last)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Runs a tool to its end (standard output and error together), without blocking a thread.
    static func runTool(_ executable: String, _ arguments: [String]) async throws -> (Int32, String) {
        let result = try await ChildProcess.run(executable, arguments, mergeStandardError: true)
        return (result.status, result.output)
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// The process's one turn at running a Redis Cluster: ``RedisClusterServer/start(_:)`` takes it,
/// ``RedisClusterServer/stop()`` gives it back; other starts wait, in order.
actor ClusterTurn {
    static let shared = ClusterTurn()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
