import NIOCore
import NIOPosix
import NIOSSL
import Spillway
import Synchronization

/// A small pool of ``RedisConnection``s.
///
/// A command takes an idle connection if there is one, opens a new one while below
/// ``RedisConfiguration/maxConnections``, and otherwise shares the least busy connection
/// (pipelining). A caller running on one of the group's event loops (see
/// ``EventLoopTaskExecutor``) gets a connection on that loop when one is idle, and new connections
/// open on the caller's loop, so a round trip need not leave the caller's thread. Closed
/// connections leave the pool by themselves. Failed connection attempts are
/// retried with exponential backoff until ``RedisConfiguration/connectTimeout``; the backoff is
/// shared, so a down server is not hammered by every caller.
final class RedisConnectionPool: Sendable {
    private struct State {
        var connections: [RedisConnection] = []
        var connecting = 0
        var waiters: [CheckedContinuation<RedisConnection, any Error>] = []
        var consecutiveFailures = 0
        var retryAt: ContinuousClock.Instant?
        var closed = false
    }

    private enum Action {
        case use(RedisConnection)
        case connect
        case wait
        case fail(CacheError)
    }

    let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    /// The group's loops, to recognise a caller already running on one of them.
    private let loops: [ObjectIdentifier]
    private let sslContext: NIOSSLContext?
    private let state = Mutex(State())

    init(configuration: RedisConfiguration, group: any EventLoopGroup) throws(CacheError) {
        self.configuration = configuration
        self.group = group
        self.loops = group.makeIterator().map { ObjectIdentifier($0) }
        if let tls = configuration.effectiveTLS {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw CacheError(.invalidArgument, "invalid TLS configuration: \(error)", underlying: error)
            }
        } else {
            sslContext = nil
        }
    }

    /// The caller's event loop when it is one of the group's.
    private func currentLoop() -> (any EventLoop)? {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop, loops.contains(ObjectIdentifier(loop)) else { return nil }
        return loop
    }

    /// The number of open connections.
    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// A connection to send on, counted in its ``RedisConnection/inflight``: call
    /// ``RedisConnection/release()`` when done.
    func lease() async throws(CacheError) -> RedisConnection {
        let max = configuration.maxConnections
        let home = currentLoop()
        let action: Action = state.withLock { s in
            if s.closed { return .fail(CacheError(.connection, "the Redis client is closed")) }
            // The least busy connection; among equals, one on the caller's loop. Score: twice
            // the load, plus one when on another loop.
            var best: RedisConnection?
            var bestScore = Int.max
            for connection in s.connections {
                let score = 2 * connection.inflight + (home == nil || connection.eventLoop === home! ? 0 : 1)
                if score < bestScore {
                    best = connection
                    bestScore = score
                    if score == 0 { break }
                }
            }
            // An idle connection on the caller's loop; else, while below the limit, a new one
            // (opened on the caller's loop); else an idle one elsewhere, else the least busy.
            if let best, bestScore == 0 || s.connections.count + s.connecting >= max {
                best.reserve()
                return .use(best)
            }
            if s.connections.count + s.connecting < max {
                s.connecting += 1
                return .connect
            }
            return .wait
        }
        switch action {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .connect:
            return try await open(on: home)
        case .wait:
            do {
                return try await withCheckedThrowingContinuation { continuation in
                    state.withLock { $0.waiters.append(continuation) }
                }
            } catch let error as CacheError {
                throw error
            } catch {
                throw CacheError(.connection, "\(error)", underlying: error)
            }
        }
    }

    /// Opens one connection (the caller counted it in `connecting`), retrying with backoff.
    private func open(on home: (any EventLoop)?) async throws(CacheError) -> RedisConnection {
        let deadline = ContinuousClock.now + configuration.connectTimeout
        var lastError: CacheError?
        while true {
            let retryAt = state.withLock { $0.retryAt }
            if let retryAt, retryAt > .now {
                guard retryAt < deadline else {
                    return try finishOpening(.failure(lastError ?? CacheError(.connection, "Redis at \(configuration.host):\(configuration.port) is unreachable (backing off)")))
                }
                do {
                    try await Task.sleep(until: retryAt, clock: .continuous)
                } catch {
                    return try finishOpening(.failure(CacheError(.cancelled, "cancelled while waiting to reconnect to Redis")))
                }
            }
            do throws(CacheError) {
                let connection = try await RedisConnection.connect(
                    configuration: configuration, sslContext: sslContext, eventLoop: home ?? group.next()
                )
                return try finishOpening(.success(connection))
            } catch {
                lastError = error
                let giveUp =
                    error.underlying is RedisHandshakeRefused || ContinuousClock.now >= deadline
                    || error.code == .cancelled || Task.isCancelled
                state.withLock { s in
                    s.consecutiveFailures += 1
                    let factor = 1 << min(s.consecutiveFailures - 1, 20)
                    s.retryAt = .now + min(configuration.maxBackoff, configuration.initialBackoff * factor)
                }
                if giveUp { return try finishOpening(.failure(error)) }
            }
        }
    }

    private func finishOpening(_ result: Result<RedisConnection, CacheError>) throws(CacheError) -> RedisConnection {
        let (waiters, closed): ([CheckedContinuation<RedisConnection, any Error>], Bool) = state.withLock { s in
            s.connecting -= 1
            let waiters = s.waiters
            s.waiters = []
            if case .success(let connection) = result, !s.closed {
                // The opener and every waiter use it.
                for _ in 0...waiters.count { connection.reserve() }
                s.connections.append(connection)
                s.consecutiveFailures = 0
                s.retryAt = nil
            }
            return (waiters, s.closed)
        }
        switch result {
        case .success(let connection):
            if closed {
                connection.channel.close(promise: nil)
                let error = CacheError(.connection, "the Redis client is closed")
                for waiter in waiters { waiter.resume(throwing: error) }
                throw error
            }
            connection.closeFuture.whenComplete { [weak self] _ in self?.remove(connection) }
            for waiter in waiters { waiter.resume(returning: connection) }
            return connection
        case .failure(let error):
            for waiter in waiters { waiter.resume(throwing: error) }
            throw error
        }
    }

    /// Takes `connection` out of the pool (it closed). Also called when a command finds it closed,
    /// before its close has completed, so the command's retry does not lease it again.
    func remove(_ connection: RedisConnection) {
        state.withLock { s in s.connections.removeAll { $0 === connection } }
    }

    /// Closes every connection; later leases fail with `.connection`.
    func close() async {
        let connections = state.withLock { s in
            s.closed = true
            let all = s.connections
            s.connections = []
            return all
        }
        for connection in connections { await connection.close() }
    }
}
