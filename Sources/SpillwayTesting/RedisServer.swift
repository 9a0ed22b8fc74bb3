import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
public import Spillway
public import SpillwayRedis
import Synchronization

/// A real `redis-server` for tests: started on 127.0.0.1 and a free port, with no persistence,
/// a small `maxmemory` and `noeviction` unless the options say otherwise, and stopped afterwards.
/// Latency tracking is off, so that `used_memory` moves only with data.
///
/// Prefer ``withRedisServer(_:_:)``, which always stops the server. When `redis-server` is
/// missing or cannot start, everything throws ``RedisServerError``: a test that needs Redis
/// fails loudly, it never skips.
public final class RedisServer: Sendable {
    /// How the server is started.
    public struct Options: Sendable {
        /// The `redis-server` binary: `SPILLWAY_REDIS_SERVER` if set, else the first on `PATH`,
        /// else `/usr/bin/redis-server`.
        public var executable: String
        /// `--maxmemory`, in bytes.
        public var maxMemory: Int
        /// `--maxmemory-policy`.
        public var maxMemoryPolicy: MaxMemoryPolicy
        /// `--requirepass`, when set.
        public var password: String?
        /// More `redis-server` arguments, appended last (so they win), e.g. `["--user", "…"]`.
        public var extraArguments: [String]
        /// How long the server may take to become ready.
        public var startTimeout: Duration
        /// TLS: when set, the server listens with TLS only (`--tls-port`), with these PEM files.
        public var tls: TLSFiles?

        /// PEM files for a TLS server.
        public struct TLSFiles: Sendable {
            /// The server's certificate.
            public var certificate: String
            /// The server's private key.
            public var key: String
            /// The CA that signed client certificates (required by `redis-server`; client
            /// certificates are not asked for).
            public var caCertificate: String

            /// Creates the set of files.
            public init(certificate: String, key: String, caCertificate: String) {
                self.certificate = certificate
                self.key = key
                self.caCertificate = caCertificate
            }
        }

        /// Creates options.
        public init(
            executable: String? = nil,
            maxMemory: Int = 64 * 1024 * 1024,
            maxMemoryPolicy: MaxMemoryPolicy = .noEviction,
            password: String? = nil,
            extraArguments: [String] = [],
            startTimeout: Duration = .seconds(10),
            tls: TLSFiles? = nil
        ) {
            self.executable = executable ?? Self.defaultExecutable()
            self.maxMemory = maxMemory
            self.maxMemoryPolicy = maxMemoryPolicy
            self.password = password
            self.extraArguments = extraArguments
            self.startTimeout = startTimeout
            self.tls = tls
        }

        static func defaultExecutable() -> String {
            let environment = ProcessInfo.processInfo.environment
            if let path = environment["SPILLWAY_REDIS_SERVER"], !path.isEmpty { return path }
            for directory in (environment["PATH"] ?? "").split(separator: ":") {
                let candidate = "\(directory)/redis-server"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            return "/usr/bin/redis-server"
        }
    }

    private struct State {
        var process: Process?
        var log = ""
        var exited = false
        var readyWaiter: CheckedContinuation<Void, any Error>?
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The options the server runs with.
    public let options: Options
    /// The host it listens on.
    public let host = "127.0.0.1"
    /// The port it listens on.
    public var port: Int { portState.withLock { $0 } }
    /// `redis://[:password@]127.0.0.1:port` (`rediss://` with TLS).
    public var url: String {
        let scheme = options.tls == nil ? "redis" : "rediss"
        if let password = options.password { return "\(scheme)://:\(password)@\(host):\(port)" }
        return "\(scheme)://\(host):\(port)"
    }

    private let portState = Mutex(0)
    private let state = Mutex(State())

    private init(options: Options) {
        self.options = options
    }

    /// Starts a server on a free port and waits until it accepts connections.
    /// - Throws: ``RedisServerError`` when it cannot start.
    public static func start(_ options: Options = Options()) async throws -> RedisServer {
        let server = RedisServer(options: options)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try await freePort()
            server.portState.withLock { $0 = port }
            do {
                try await server.launch()
                return server
            } catch let error as RedisServerError where error.portInUse {
                lastError = error
            }
        }
        throw lastError ?? RedisServerError(message: "could not find a free port for redis-server", log: "")
    }

    /// Runs `body` with a fresh server, and stops the server afterwards whatever happens.
    public static func withRedisServer<R>(
        _ options: Options = Options(),
        _ body: (RedisServer) async throws -> R
    ) async throws -> R {
        let server = try await start(options)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// A client for this server. Close it when done.
    public func makeClient(_ configure: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisClient {
        var configuration = RedisConfiguration(host: host, port: port, password: options.password)
        configure(&configuration)
        return try RedisClient(configuration: configuration)
    }

    /// Stops the server (SIGKILL, which nothing can block or delay: a child of a test runner may
    /// inherit a mask that blocks SIGTERM) and waits for it to exit. Safe to call twice.
    public func stop() async {
        let process: Process? = state.withLock { s in
            guard let p = s.process, !s.exited else { return nil }
            return p
        }
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.exited { return true }
                s.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Starts the server again on the same port, after ``stop()``.
    /// - Throws: ``RedisServerError`` when it cannot start.
    public func restart() async throws {
        await stop()
        try await launch()
    }

    /// The server's output so far, for error messages.
    public var log: String { state.withLock { $0.log } }

    // MARK: Launching

    private func launch() async throws {
        guard FileManager.default.isExecutableFile(atPath: options.executable) else {
            throw RedisServerError(
                message: "redis-server not found at \(options.executable); install it (apt-get install redis-server) or set SPILLWAY_REDIS_SERVER",
                log: ""
            )
        }
        var arguments = [
            "--port", String(port), "--bind", host, "--save", "", "--appendonly", "no",
            "--maxmemory", String(options.maxMemory), "--maxmemory-policy", options.maxMemoryPolicy.rawValue,
            "--daemonize", "no", "--logfile", "", "--dir", NSTemporaryDirectory(),
            // Per-command latency histograms (~24 KB each, allocated on a command's first use)
            // would make `used_memory` jump under tests that fill memory to a small limit.
            "--latency-tracking", "no",
        ]
        if let password = options.password { arguments += ["--requirepass", password] }
        if let tls = options.tls {
            arguments += [
                "--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certificate, "--tls-key-file", tls.key,
                "--tls-ca-cert-file", tls.caCertificate, "--tls-auth-clients", "no",
            ]
        }
        arguments += options.extraArguments

        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        state.withLock { s in
            s = State(process: process)
        }
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            self?.received(String(decoding: data, as: UTF8.self))
        }
        process.terminationHandler = { [weak self] _ in self?.exited() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            state.withLock { $0.readyWaiter = continuation }
            do {
                try process.run()
            } catch {
                let waiter = state.withLock { s in
                    s.exited = true
                    defer { s.readyWaiter = nil }
                    return s.readyWaiter
                }
                waiter?.resume(throwing: RedisServerError(message: "cannot run \(options.executable): \(error)", log: ""))
            }
        }
    }

    private func received(_ text: String) {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { s in
            s.log += text
            if s.log.count > 64 * 1024 { s.log = String(s.log.suffix(32 * 1024)) }
            guard s.readyWaiter != nil, s.log.contains("Ready to accept connections") else { return nil }
            defer { s.readyWaiter = nil }
            return s.readyWaiter
        }
        waiter?.resume()
    }

    private func exited() {
        let (ready, waiters, log): (CheckedContinuation<Void, any Error>?, [CheckedContinuation<Void, Never>], String) = state.withLock { s in
            s.exited = true
            defer {
                s.readyWaiter = nil
                s.exitWaiters = []
            }
            return (s.readyWaiter, s.exitWaiters, s.log)
        }
        ready?.resume(throwing: RedisServerError(message: "redis-server exited before it was ready (port \(port))", log: log))
        for waiter in waiters { waiter.resume() }
    }

    /// A port nothing listens on right now, on 127.0.0.1.
    package static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        guard port > 0 else { throw RedisServerError(message: "could not pick a free port", log: "") }
        return port
    }
}

/// `redis-server` could not start (missing binary, a port in use, a bad option), with its output.
public struct RedisServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// What the server printed.
    public var log: String

    /// Creates an error.
    public init(message: String, log: String) {
        self.message = message
        self.log = log
    }

    var portInUse: Bool { log.contains("Address already in use") }

    public var description: String {
        log.isEmpty ? message : "\(message)\n--- redis-server output ---\n\(log)"
    }
}
