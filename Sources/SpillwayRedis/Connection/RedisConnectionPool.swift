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
///
/// Callers that find every connection slot taken by connections still opening wait for them.
/// A waiting caller honours cancellation (it leaves the queue at once with `.cancelled`, which is
/// how a ``CacheContext`` deadline reaches it); a cancelled *opener* hands its slot to the next
/// waiter instead of failing everybody; ``close()`` fails every waiter with `.connection`.
final class RedisConnectionPool: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    /// What a waiter is given when it leaves the queue.
    private enum Grant {
        /// A connection, already counted in its ``RedisConnection/inflight``.
        case use(RedisConnection)
        /// A connection slot: the waiter opens the connection itself (its opener was cancelled).
        case connect
    }

    private struct State {
        var connections: [RedisConnection] = []
        var connecting = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var consecutiveFailures = 0
        var retryAt: ContinuousClock.Instant?
        var closed = false

        /// What a caller does now: use a connection (reserved for it), open one (counted in
        /// `connecting`), wait, or fail.
        mutating func decide(max: Int, home: (any EventLoop)?) -> Action {
            if closed { return .fail(RedisConnectionPool.closedError) }
            // The least busy connection; among equals, one on the caller's loop. Score: twice
            // the load, plus one when on another loop.
            var best: RedisConnection?
            var bestScore = Int.max
            for connection in connections {
                let score = 2 * connection.inflight + (home == nil || connection.eventLoop === home! ? 0 : 1)
                if score < bestScore {
                    best = connection
                    bestScore = score
                    if score == 0 { break }
                }
            }
            // An idle connection on the caller's loop; else, while below the limit, a new one
            // (opened on the caller's loop); else an idle one elsewhere, else the least busy.
            if let best, bestScore == 0 || connections.count + connecting >= max {
                best.reserve()
                return .use(best)
            }
            if connections.count + connecting < max {
                connecting += 1
                return .connect
            }
            return .wait
        }
    }

    private enum Action {
        case use(RedisConnection)
        case connect
        case wait
        case fail(CacheError)
    }

    static let closedError = CacheError(.connection, "the Redis client is closed")

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

    /// The commands in flight on the pool's connections, and the callers opening one.
    var busyCount: Int { state.withLock { s in s.connections.reduce(s.connecting) { $0 + $1.inflight } } }

    /// The number of callers waiting for a connection to open.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// A connection to send on, counted in its ``RedisConnection/inflight``: call
    /// ``RedisConnection/release()`` when done.
    /// - Throws: `.connection` when Redis cannot be reached or the pool is closed, `.cancelled`
    ///   when the calling task is cancelled while it waits or connects.
    func lease() async throws(CacheError) -> RedisConnection {
        let max = configuration.maxConnections
        let home = currentLoop()
        switch state.withLock({ $0.decide(max: max, home: home) }) {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .connect:
            return try await open(on: home)
        case .wait:
            switch try await wait(max: max, home: home) {
            case .use(let connection): return connection
            case .connect: return try await open(on: home)
            }
        }
    }

    /// Waits for a connection being opened by another caller. The decision is taken again under
    /// the lock that queues the waiter, so a connection that opened in between is not missed.
    private func wait(max: Int, home: (any EventLoop)?) async throws(CacheError) -> Grant {
        let id = state.withLock { s in
            s.nextWaiterID &+= 1
            return s.nextWaiterID
        }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                    let now: Result<Grant, CacheError>? = state.withLock { s in
                        if Task.isCancelled { return .failure(Self.cancelledWaiting) }
                        switch s.decide(max: max, home: home) {
                        case .use(let connection): return .success(.use(connection))
                        case .connect: return .success(.connect)
                        case .fail(let error): return .failure(error)
                        case .wait:
                            s.waiters.append(Waiter(id: id, continuation: continuation))
                            return nil
                        }
                    }
                    if let now { continuation.resume(with: now) }
                }
            } onCancel: {
                let waiter = state.withLock { s -> Waiter? in
                    guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiters.remove(at: index)
                }
                waiter?.continuation.resume(throwing: Self.cancelledWaiting)
            }
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.connection, "\(error)", underlying: error)
        }
    }

    private static let cancelledWaiting = CacheError(.cancelled, "cancelled while waiting for a Redis connection")

    /// Opens one connection (the caller counted it in `connecting`), retrying with backoff.
    private func open(on home: (any EventLoop)?) async throws(CacheError) -> RedisConnection {
        let deadline = ContinuousClock.now + configuration.connectTimeout
        var lastError: CacheError?
        while true {
            if Task.isCancelled {
                return try finishOpening(.failure(CacheError(.cancelled, "cancelled while connecting to Redis")))
            }
            let retryAt = state.withLock { $0.retryAt }
            if let retryAt, retryAt > .now {
                guard retryAt < deadline else {
                    return try finishOpening(
                        .failure(lastError ?? CacheError(.connection, "Redis at \(configuration.host):\(configuration.port) is unreachable (backing off)"))
                    )
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
                // A cancelled attempt says nothing about the server: no backoff for others.
                if error.code == .cancelled || Task.isCancelled {
                    return try finishOpening(.failure(CacheError(.cancelled, error.message, underlying: error.underlying)))
                }
                lastError = error
                let giveUp = error.underlying is RedisHandshakeRefused || ContinuousClock.now >= deadline
                state.withLock { s in
                    s.consecutiveFailures += 1
                    let factor = 1 << min(s.consecutiveFailures - 1, 20)
                    s.retryAt = .now + min(configuration.maxBackoff, configuration.initialBackoff * factor)
                }
                if giveUp { return try finishOpening(.failure(error)) }
            }
        }
    }

    /// Ends an opening: a new connection goes to the pool and to every waiter; a failure fails
    /// the waiters, except a cancellation, which hands the slot to the first waiter.
    private func finishOpening(_ result: Result<RedisConnection, CacheError>) throws(CacheError) -> RedisConnection {
        enum Outcome {
            case opened(RedisConnection, [Waiter])
            case closed(RedisConnection?, [Waiter])
            case failed(CacheError, [Waiter])
            case handedOver(CacheError, Waiter)
            case cancelled(CacheError)
        }
        let outcome: Outcome = state.withLock { s in
            if s.closed {
                s.connecting -= 1
                let waiters = s.waiters
                s.waiters = []
                if case .success(let connection) = result { return .closed(connection, waiters) }
                return .closed(nil, waiters)
            }
            switch result {
            case .success(let connection):
                s.connecting -= 1
                let waiters = s.waiters
                s.waiters = []
                // The opener and every waiter use it.
                for _ in 0...waiters.count { connection.reserve() }
                s.connections.append(connection)
                s.consecutiveFailures = 0
                s.retryAt = nil
                return .opened(connection, waiters)
            case .failure(let error) where error.code == .cancelled:
                // Only the opener gave up: the next waiter opens instead (the slot stays counted).
                guard !s.waiters.isEmpty else {
                    s.connecting -= 1
                    return .cancelled(error)
                }
                return .handedOver(error, s.waiters.removeFirst())
            case .failure(let error):
                s.connecting -= 1
                let waiters = s.waiters
                s.waiters = []
                return .failed(error, waiters)
            }
        }
        switch outcome {
        case .opened(let connection, let waiters):
            connection.closeFuture.whenComplete { [weak self] _ in self?.remove(connection) }
            for waiter in waiters { waiter.continuation.resume(returning: .use(connection)) }
            return connection
        case .closed(let connection, let waiters):
            connection?.channel.close(promise: nil)
            for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
            throw Self.closedError
        case .failed(let error, let waiters):
            for waiter in waiters { waiter.continuation.resume(throwing: error) }
            throw error
        case .handedOver(let error, let next):
            next.continuation.resume(returning: .connect)
            throw error
        case .cancelled(let error):
            throw error
        }
    }

    /// Takes `connection` out of the pool (it closed). Also called when a command finds it closed,
    /// before its close has completed, so the command's retry does not lease it again.
    func remove(_ connection: RedisConnection) {
        state.withLock { s in s.connections.removeAll { $0 === connection } }
    }

    /// Closes every connection and fails every waiting caller; later leases fail with
    /// `.connection`.
    func close() async {
        let (connections, waiters) = state.withLock { s in
            s.closed = true
            let all = s.connections
            s.connections = []
            let waiters = s.waiters
            s.waiters = []
            return (all, waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
        for connection in connections { await connection.close() }
    }
}
