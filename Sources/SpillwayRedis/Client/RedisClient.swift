public import NIOCore
public import NIOPosix
public import Spillway
import Synchronization

/// A Redis backend for Spillway: a ``CacheClient`` over a pool of RESP3 connections.
///
/// Every ``CacheOperation`` is one round trip:
/// - `set` is `SET key value [NX|XX] [GET] [PX ms|KEEPTTL]`;
/// - `increment` with a TTL is `MULTI; SET key 0 NX PX ms; INCRBY key by; EXEC`, so the TTL is
///   set only when the counter is created, atomically; without a TTL it is `INCRBY`;
/// - `mset` with a TTL is `MULTI; MSET …; PEXPIRE …; EXEC`;
/// - `throttle` runs ``RedisScripts/gcra`` with `EVALSHA` (loaded once with `SCRIPT LOAD`),
///   falling back to `EVAL` on `NOSCRIPT`;
/// - a `set` asking for only the head of the previous value (``SetOptions/previousHeadBytes``),
///   `deleteReturningHead` and `expireReturningHead` run ``RedisScripts/previousHead`` the same way;
/// - `msetReturningHeads` runs ``RedisScripts/msetHeads`` the same way.
///
/// Error replies become ``CacheError``s classified by ``CacheError/redisReply(_:)-(String)``.
/// Call ``close()`` when done.
public final class RedisClient: CacheClient {
    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    /// Everything is native on Redis (previous-value heads through ``RedisScripts/previousHead``);
    /// values up to 512 MiB (`proto-max-bulk-len`).
    public let capabilities = CacheCapabilities(
        atomicSetReturningPrevious: true, atomicThrottle: true, maxValueBytes: 512 * 1024 * 1024, returnsPreviousHead: true
    )

    let pool: RedisConnectionPool
    let gcraSHACache = ScriptSHACache()
    let previousHeadSHACache = ScriptSHACache()
    let msetHeadsSHACache = ScriptSHACache()
    let retriedAfterLoss = Atomic<Int>(0)

    /// Creates a client. Connections open on first use.
    /// - Parameters:
    ///   - configuration: the server, credentials, timeouts and pool size.
    ///   - eventLoopGroup: where the connections run.
    /// - Throws: `.invalidArgument` when the TLS configuration is invalid.
    public init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(CacheError) {
        self.configuration = configuration
        self.pool = try RedisConnectionPool(configuration: configuration, group: eventLoopGroup)
    }

    /// Creates a client from a `redis://` or `rediss://` URL (see ``RedisConfiguration/init(url:)``).
    /// - Throws: `.invalidArgument` when the URL is malformed.
    public convenience init(url: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(CacheError) {
        try self.init(configuration: RedisConfiguration(url: url), eventLoopGroup: eventLoopGroup)
    }

    /// Closes every connection. Commands still waiting fail with `.connection`; later ones too.
    public func close() async {
        await pool.close()
    }

    /// The number of open connections.
    public var connectionCount: Int { pool.connectionCount }

    /// Whether a command is in flight, or a caller is opening a connection (what a
    /// ``RedisClusterClient`` waits out before it closes the client of a node that left the
    /// topology).
    var isBusy: Bool { pool.busyCount > 0 }

    // MARK: Raw commands

    /// Sends any command and returns its reply, for commands Spillway does not model.
    /// - Throws: the classified error when Redis replies with an error, or a transport error.
    public func send(_ command: String, _ arguments: any RESPArgument...) async throws(CacheError) -> RESPValue {
        try await send(command, arguments: arguments)
    }

    /// Sends any command and returns its reply, for commands Spillway does not model.
    /// - Throws: the classified error when Redis replies with an error, or a transport error.
    public func send(_ command: String, arguments: [any RESPArgument]) async throws(CacheError) -> RESPValue {
        try Self.checked(try await roundTrip(RedisCommandEncoder.encode([command] + arguments)))
    }

    /// Sends several commands in one write on one connection and returns their replies in order.
    /// Error replies are returned as ``RESPValue/error(_:)``, not thrown.
    /// - Throws: a transport error.
    public func pipeline(_ commands: [[any RESPArgument]]) async throws(CacheError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64 * commands.count)
        for command in commands { RedisCommandEncoder.append(command, to: &buffer) }
        return try await roundTrip(buffer, count: commands.count)
    }

    /// One command on a pooled connection; sent again on another connection when the one it got
    /// was found closed before the command reached the wire (see ``sendAgain(notSent:attempt:)``).
    ///
    /// An `idempotent` command (a read, a delete, a relative expire: running it twice leaves the
    /// same data) is also sent again when its connection was lost after it was written (the
    /// server closed it, a reset), until it has been lost on a *fresh* connection, one opened
    /// after the first loss: a restarted server or a proxy that cut every connection at once
    /// costs a round trip per connection that was cut (at most the pool's size), not a failed
    /// request. A timeout is never retried (the server is slow; retrying would add to its load).
    func roundTrip(_ command: ByteBuffer, idempotent: Bool = false) async throws(CacheError) -> RESPValue {
        var attempt = 0
        var lostAt: NIODeadline?
        while true {
            guard let connection = try await leaseOrRetry(&attempt) else { continue }
            defer { connection.release() }
            do throws(CacheError) {
                return try await Self.send(command, on: connection)
            } catch  where Self.sendAgain(notSent: error, attempt: attempt) {
                // Closed (e.g. idle) but not yet out of the pool: drop it so the retry gets another.
                pool.remove(connection)
                attempt += 1
            } catch  where idempotent && Self.isLostAfterWrite(error) && lostAt.map({ connection.openedAt < $0 }) ?? true {
                // Lost on a connection that predates the first loss (cut with it): once more.
                pool.remove(connection)
                if lostAt == nil { lostAt = .now() }
                retriedAfterLoss.add(1, ordering: .relaxed)
            }
        }
    }

    /// Whether `error` says the connection broke after the command was written.
    static func isLostAfterWrite(_ error: CacheError) -> Bool {
        error.code == .connection && !(error.underlying is RedisRequestNotSent) && !Task.isCancelled
    }

    /// Several commands written together on one connection; retried as
    /// ``roundTrip(_:idempotent:)`` retries one.
    func roundTrip(_ commands: ByteBuffer, count: Int, idempotent: Bool = false) async throws(CacheError) -> [RESPValue] {
        var attempt = 0
        var lostAt: NIODeadline?
        while true {
            guard let connection = try await leaseOrRetry(&attempt) else { continue }
            defer { connection.release() }
            do throws(CacheError) {
                return try await Self.send(commands, count: count, on: connection)
            } catch  where Self.sendAgain(notSent: error, attempt: attempt) {
                // Closed (e.g. idle) but not yet out of the pool: drop it so the retry gets another.
                pool.remove(connection)
                attempt += 1
            } catch  where idempotent && Self.isLostAfterWrite(error) && lostAt.map({ connection.openedAt < $0 }) ?? true {
                // Lost on a connection that predates the first loss (cut with it): once more.
                pool.remove(connection)
                if lostAt == nil { lostAt = .now() }
                retriedAfterLoss.add(1, ordering: .relaxed)
            }
        }
    }

    /// How many idempotent commands were sent again after their connection was lost.
    public var retriedCommands: Int { retriedAfterLoss.load(ordering: .relaxed) }

    /// How many times a command that never reached the wire is sent again. More than once: a
    /// fresh connection can close (idle, or the server) before the command gets to it too.
    static let notSentRetries = 3

    /// A connection from the pool, or `nil` when the one opened for the caller closed before its
    /// handshake (`HELLO`, `AUTH`, `SELECT`) was written, which ``sendAgain(notSent:attempt:)``
    /// allows to try again (a loaded machine can stall a new connection past its idle timeout
    /// between the connect and the handshake).
    private func leaseOrRetry(_ attempt: inout Int) async throws(CacheError) -> RedisConnection? {
        do throws(CacheError) {
            return try await pool.lease()
        } catch  where Self.sendAgain(notSent: error, attempt: attempt) {
            attempt += 1
            return nil
        }
    }

    /// Whether a command that failed with `error` on its `attempt`-th try goes out again: when
    /// it never reached the wire, up to ``notSentRetries`` times, and always when its connection
    /// had closed for being idle (a loaded machine can stall a task for longer than the idle
    /// timeout between the connect and the write, more than three times running; the caller
    /// must not see a failure for a connection the client itself chose to close).
    static func sendAgain(notSent error: CacheError, attempt: Int) -> Bool {
        guard let notSent = error.underlying as? RedisRequestNotSent else { return false }
        return notSent.closedIdle || attempt < notSentRetries
    }

    /// Throws the classified error of an error reply, else returns the reply.
    static func checked(_ reply: RESPValue) throws(CacheError) -> RESPValue {
        if case .error(let message) = reply { throw CacheError.redisReply(message) }
        return reply
    }

    static func unexpected(_ reply: RESPValue, for command: String) -> CacheError {
        CacheError(.protocolError, "unexpected reply to \(command): \(reply)")
    }

    // MARK: Memory

    /// `used_memory` and `maxmemory` from `INFO memory`, and `DBSIZE`.
    /// - Throws: a transport error, or `.protocolError` when the reply lacks the fields.
    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        var buffer = ByteBuffer()
        buffer.writeStaticString("*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n*1\r\n$6\r\nDBSIZE\r\n")
        let replies = try await roundTrip(buffer, count: 2)
        guard let info = try Self.checked(replies[0]).string else { throw Self.unexpected(replies[0], for: "INFO") }
        guard case .integer(let keys) = try Self.checked(replies[1]) else { throw Self.unexpected(replies[1], for: "DBSIZE") }
        var used: Int?
        var maxBytes: Int?
        for line in info.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("used_memory:") {
                used = Int(line.dropFirst("used_memory:".count))
            } else if line.hasPrefix("maxmemory:") {
                maxBytes = Int(line.dropFirst("maxmemory:".count))
            }
        }
        guard let used else { throw CacheError(.protocolError, "INFO memory has no used_memory field") }
        return CacheMemoryStats(usedBytes: used, maxBytes: maxBytes.flatMap { $0 > 0 ? $0 : nil }, keyCount: Int(keys))
    }
}

/// The SHA of a script loaded on the server, once known.
final class ScriptSHACache: Sendable {
    private let sha = Mutex<String?>(nil)

    var value: String? {
        get { sha.withLock { $0 } }
        set { sha.withLock { $0 = newValue } }
    }
}
