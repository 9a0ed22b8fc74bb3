import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real PostgreSQL server for tests: a fresh cluster (`initdb`) in a temporary directory,
/// listening on 127.0.0.1 and a free port only, password authentication (SCRAM) for TCP, and
/// `fsync` off (the tests never crash the machine). Stopped and deleted by ``stop()``.
///
/// `initdb` refuses to run as root: when the process is root, the cluster belongs to the
/// `postgres` user (Debian's package creates it) and every server command runs through
/// `runuser -u postgres --`. The binaries come from `SPILLWAY_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package: `scripts/deps.sh postgresql`).
/// Anything that goes wrong throws ``PostgresServerError`` with the server's log: a test that
/// needs Postgres fails loudly, it never skips.
public final class PostgresServer: Sendable {
    /// The host it listens on.
    public let host = "127.0.0.1"
    /// The port it listens on.
    public let port: Int
    /// The superuser created by `initdb`.
    public let username = "spillway"
    /// Its password.
    public let password: String
    /// The database to use.
    public let database = "postgres"
    /// The cluster's directory.
    public let directory: String
    let bin: String
    let asPostgres: Bool

    /// `postgres://user:password@127.0.0.1:port/postgres`.
    public var url: String { "postgres://\(username):\(password)@\(host):\(port)/\(database)" }

    private init(port: Int, password: String, directory: String, bin: String, asPostgres: Bool) {
        self.port = port
        self.password = password
        self.directory = directory
        self.bin = bin
        self.asPostgres = asPostgres
    }

    /// Creates a cluster and starts it; waits until it accepts connections.
    /// - Throws: ``PostgresServerError`` when the binaries are missing or the server cannot start.
    public static func start() async throws -> PostgresServer {
        let bin = try binDirectory()
        let asPostgres = geteuid() == 0
        var template = Array((NSTemporaryDirectory() + "/spillway-pg-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw PostgresServerError(message: "mkdtemp failed: errno \(errno)", log: "")
        }
        let directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let password = "pw" + String(UInt64.random(in: 0 ... .max), radix: 36)
        try password.write(toFile: directory + "/pwfile", atomically: true, encoding: .utf8)
        if asPostgres {
            try run("/bin/chown", ["-R", "postgres:postgres", directory], asPostgres: false)
        }
        try run(
            bin + "/initdb",
            ["-D", directory + "/data", "-U", "spillway", "--pwfile=" + directory + "/pwfile", "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
            asPostgres: asPostgres)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freePort()
            let server = PostgresServer(port: port, password: password, directory: directory, bin: bin, asPostgres: asPostgres)
            do {
                try server.launch()
                return server
            } catch {
                lastError = error
                if !server.log.contains("Address already in use") { break }
            }
        }
        _ = try? run("/bin/rm", ["-rf", directory], asPostgres: false)
        throw lastError ?? PostgresServerError(message: "could not start postgres", log: "")
    }

    /// Starts (again) on the same port and waits until ready (`pg_ctl start -w`).
    /// - Throws: ``PostgresServerError`` when it does not start.
    public func launch() throws {
        let options = "-h \(host) -p \(port) -k \(directory) -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        do {
            try Self.run(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-o", options, "-w", "-t", "30", "start"], asPostgres: asPostgres)
        } catch let error as PostgresServerError {
            throw PostgresServerError(message: error.message, log: log)
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`). Safe to call twice.
    public func halt() {
        _ = try? Self.run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"], asPostgres: asPostgres)
    }

    /// Kills the postmaster with SIGKILL, as a crash would (its children exit when they notice).
    public func kill9() {
        guard let pid = postmasterPID else { return }
        kill(pid, SIGKILL)
    }

    /// Kills the whole server with SIGKILL, the postmaster and every backend (`kill -9` of all
    /// of Postgres: clients see their connections reset, nothing is shut down cleanly), and
    /// returns once they are gone, so that ``restart()`` can start it again at once.
    /// - Returns: how many processes were killed.
    @discardableResult
    public func killAll() -> Int {
        guard let pid = postmasterPID else { return 0 }
        let victims = [pid] + Self.children(of: pid)
        for victim in victims { kill(victim, SIGKILL) }
        // Gone means reaped or a zombie; the postmaster's children are reaped by init.
        for victim in victims {
            for _ in 0..<2000 where Self.isAlive(victim) { usleep(1000) }
        }
        return victims.count
    }

    /// Starts the server again on the same port and directory after ``killAll()``, ``kill9()``
    /// or ``halt()`` (crash recovery runs from the write-ahead log); waits until it accepts
    /// connections.
    /// - Throws: ``PostgresServerError`` when it does not start.
    public func restart() throws {
        try? FileManager.default.removeItem(atPath: directory + "/data/postmaster.pid")
        try launch()
    }

    /// The postmaster's process id, from its pid file.
    var postmasterPID: pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8) else { return nil }
        return Int32(text.split(separator: "\n").first ?? "")
    }

    /// The processes whose parent is `pid` (from `/proc`).
    static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let child = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // "<pid> (<comm>) <state> <ppid> …": the fields after the command's closing parenthesis.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }

    /// Whether `pid` is a live process (not gone, not a zombie).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    /// Stops the server and deletes its directory.
    public func stop() {
        halt()
        kill9()
        _ = try? Self.run("/bin/rm", ["-rf", directory], asPostgres: false)
    }

    /// Runs `body` with a fresh server, and stops it afterwards whatever happens.
    public static func withServer<R>(_ body: (PostgresServer) async throws -> R) async throws -> R {
        let server = try await start()
        defer { server.stop() }
        return try await body(server)
    }

    /// Runs SQL statements through `psql` as the superuser over TCP, in one session, each in its
    /// own transaction (one `-c` each), and returns the unaligned output (`-At`: one row per
    /// line, columns separated by `|`). For tests that reach behind a store.
    /// - Throws: ``PostgresServerError`` when psql fails.
    @discardableResult
    public func psql(_ statements: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin + "/psql")
        process.arguments = ["-h", host, "-p", String(port), "-U", username, "-d", database, "-At", "-v", "ON_ERROR_STOP=1"] + statements.flatMap { ["-c", $0] }
        process.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw PostgresServerError(message: "psql exited \(process.terminationStatus): \(text)", log: "") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's log so far.
    public var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    static func binDirectory() throws -> String {
        if let bin = ProcessInfo.processInfo.environment["SPILLWAY_PG_BIN"], !bin.isEmpty { return bin }
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(base)/\(version)/bin/pg_ctl") {
            return "\(base)/\(version)/bin"
        }
        throw PostgresServerError(message: "PostgreSQL server binaries not found under \(base); run scripts/deps.sh postgresql or set SPILLWAY_PG_BIN", log: "")
    }

    /// Runs a command to completion, its output in a file, and returns the output.
    ///
    /// `posix_spawn` and `waitpid`, not Foundation's `Process`: `pg_ctl start` leaves the server
    /// running, and on Linux `Process` learns that its child exited from a descriptor that the
    /// server would inherit and hold open (it would wait for the server, not for `pg_ctl`). The
    /// command gets no descriptor of this process beyond 0, 1 and 2 (bash closes the rest).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], asPostgres: Bool) throws -> String {
        // bash closes every inherited descriptor above 2 before the command runs.
        let closing = "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done; exec \"$@\""
        let command = asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let argv = ["/bin/bash", "-c", closing, "spillway-pg"] + command
        let outputPath = NSTemporaryDirectory() + "/spillway-pg-run-\(UInt64.random(in: 0 ... .max)).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else {
            throw PostgresServerError(message: "cannot run \(argv[0]): errno \(spawned)", log: "")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw PostgresServerError(message: "\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)", log: "")
        }
        return text
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    /// - Throws: ``PostgresServerError`` when no socket can be bound.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError(message: "socket failed", log: "") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw PostgresServerError(message: "bind failed", log: "") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// PostgreSQL could not be set up or started, with its log.
public struct PostgresServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// The server's log.
    public var log: String

    /// Creates an error.
    public init(message: String, log: String) {
        self.message = message
        self.log = log
    }

    public var description: String { log.isEmpty ? message : "\(message)\n--- postgres log ---\n\(log)" }
}
