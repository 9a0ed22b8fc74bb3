import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import Spillway
import SpillwayPolicyFile
import SpillwayProxy
import SpillwayRedis

/// `spillway proxy`: a RESP sidecar in front of Redis that applies the policy file's key guard,
/// spill and OOM ladder to any client's traffic (redis-py, Django, Celery), with each client
/// connection pinned to its own upstream connection. Stops gracefully on SIGTERM and SIGINT.
struct ProxyServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a RESP proxy in front of Redis that guards keys, spills big values and sheds writes on OOM.",
        discussion: """
            Point any Redis client at --listen. Keys over their policy's maxKeyBytes are hashed as the \
            Swift library hashes them (set the same secret with SPILLWAY_KEY_SECRET), values above \
            spillAbove go to --blob-dir, and an -OOM on an unconditional SET/SETEX/PSETEX/MSET is \
            answered +OK on routes whose onOOM is shed. See docs/PROXY.md.
            """
    )

    @Option(help: "host:port to listen on.")
    var listen = "127.0.0.1:6380"

    @Option(help: "The upstream Redis URL (redis://[user:pass@]host:port[/db] or rediss://…).")
    var upstream = "redis://127.0.0.1:6379"

    @Option(help: "The policy file (spillway.yml or spillway.json); the library's defaults without one.")
    var policies: String?

    @Option(name: .customLong("blob-dir"), help: "Where spilled values go (a FileBlobStore root).")
    var blobDir = ".spillway-blobs"

    @Option(name: .customLong("blob-store-name"), help: "The blob store's name in pointers (every reader of these pointers needs a store of that name).")
    var blobStoreName = "file"

    @Flag(name: .customLong("no-spill"), help: "Leave values alone (no blob store).")
    var noSpill = false

    @Option(name: .customLong("incomplete-key-specs"), help: "Commands whose key specs are incomplete: getkeys (ask COMMAND GETKEYS) or pass.")
    var incompleteKeySpecs = "getkeys"

    @Option(
        name: .customLong("blob-release"),
        help: "When a command replaces or removes a spilled value: atomic (release its blob at once; an overwrite runs in a MULTI of the proxy's own, a delete or expire in a script) or sweeper (leave the blob to its TTL and BlobSweeper)."
    )
    var blobRelease = "atomic"

    @Option(name: .customLong("status-port"), help: "Serve the counters as JSON on http://127.0.0.1:PORT/.")
    var statusPort: Int?

    @Option(name: .customLong("max-request-bytes"), help: "The largest request a client may send, in bytes.")
    var maxRequestBytes = 512 * 1024 * 1024

    @Option(name: .customLong("drain-seconds"), help: "On SIGTERM, how long in-flight commands may take before connections are cut.")
    var drainSeconds = 10

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "spillway.proxy")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--listen must be host:port") }
        guard let mode = ProxyRules.IncompleteKeySpecs(rawValue: incompleteKeySpecs) else {
            throw ValidationError("--incomplete-key-specs must be getkeys or pass")
        }
        guard blobRelease == "atomic" || blobRelease == "sweeper" else { throw ValidationError("--blob-release must be atomic or sweeper") }
        let upstreamConfiguration = try RedisConfiguration(url: upstream)
        var table = PolicyTable()
        if let policies {
            do {
                table = try PolicyFileLoader.load(path: policies).table
            } catch {
                StandardError.write("\(error)")
                throw ExitCode(1)
            }
        }
        let secret = ProcessInfo.processInfo.environment["SPILLWAY_KEY_SECRET"].map { XXH3Secret(keyMaterial: $0) }
        let hasher = secret.map { KeyHasher(secret: $0) } ?? KeyHasher()
        var spill: ProxySpill? = nil
        if !noSpill {
            let store = try FileBlobStore(root: blobDir, name: blobStoreName)
            spill = ProxySpill(ValueSpill(store: store, secret: hasher.secret))
        }
        let stats = ProxyStats()
        let rules = ProxyRules(
            policies: table, keyGuard: KeyGuard(hasher: hasher), spill: spill, incompleteKeySpecs: mode, releasesBlobs: blobRelease == "atomic", logger: logger,
            stats: stats
        )
        let limits = RESPDecoder.Limits(maxBulkLength: maxRequestBytes, maxReplyBytes: maxRequestBytes)
        let server = try ProxyServer(
            configuration: ProxyConfiguration(
                listenHost: String(parts[0]), listenPort: port, upstream: upstreamConfiguration, requestLimits: limits, statusPort: statusPort
            ),
            rules: rules
        )
        if hasher.usesDefaultSecret {
            logger.warning("keys are hashed with the public default key material: set SPILLWAY_KEY_SECRET (the same secret as your Swift services)")
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(drainSeconds)
        try await ServiceGroup(configuration: groupConfiguration).run()
        StandardError.write("spillway proxy: \(stats.json())")
    }
}
