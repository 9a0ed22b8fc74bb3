import NIOCore
import Spillway

/// The protocol logic of one Redis connection as a plain value: events in, actions out, no I/O.
///
/// ``RedisChannelHandler`` feeds it what happens (a request to write, a decoded reply, a timer, a
/// close) and carries out what it answers (write, hand a reply to a waiter, arm a timer, close
/// and fail waiters). It holds the reply queue, the collection of a batch's replies, the command
/// and idle deadlines, the bound on queued commands and the closed state; `Waiter` is opaque to
/// it (the handler's continuations; plain values in tests).
///
/// Requests are answered in order (FIFO), which is how Redis answers a pipeline. Anything that
/// breaks the pairing of replies and commands (a close, bytes that are not RESP, a reply nobody
/// asked for, an overdue reply) fails *every* queued request and closes the connection, so a
/// reply is never given to the wrong command. A cancelled request keeps its slot (abandoned), so
/// that its reply is consumed there. Out-of-band RESP3 pushes are ignored.
struct RedisConnectionStateMachine<Waiter> {
    /// The bounds the machine keeps.
    struct Configuration {
        /// The most time a reply may take.
        var commandTimeout: TimeAmount
        /// A connection with nothing in flight for this long is closed; `nil` keeps it.
        var idleTimeout: TimeAmount?
        /// The most requests queued (written and unanswered) at once; more are refused.
        var maxQueuedRequests: Int
    }

    private struct Request {
        var id: UInt64
        /// `nil` once abandoned (its task was cancelled).
        var waiter: Waiter?
        var replies: Int
        var deadline: NIODeadline
    }

    /// Waiters to fail, each with its error.
    struct Failures {
        var waiters: [(Waiter, CacheError)] = []
    }

    /// What to do with a request.
    enum EnqueueAction {
        /// Write its bytes; arm the command timer at the deadline when one is given.
        case write(armTimerAt: NIODeadline?)
        /// Do not write: fail the waiter.
        case fail(Waiter, CacheError)
    }

    /// What to do after a reply was decoded.
    enum ReplyAction {
        /// Nothing (a push, an abandoned request's reply, or a batch still collecting).
        case none
        /// Give one request its single reply.
        case succeed(Waiter, RESPValue)
        /// Give one request its batch of replies.
        case succeedBatch(Waiter, [RESPValue])
        /// Close the channel and fail these waiters.
        case close(Failures)
    }

    /// What to do when a timer fires.
    enum TimerAction {
        case none
        /// Arm the same timer again at this deadline.
        case rearm(NIODeadline)
        /// Close the channel and fail these waiters.
        case close(Failures)
    }

    let configuration: Configuration
    private var pending = CircularBuffer<Request>(initialCapacity: 16)
    private var closedBy: CacheError?
    private var commandTimerArmed = false
    private var idleTimerArmed = false
    /// When the last request was written or the last bytes were read.
    private var lastActivity: NIODeadline
    /// The replies received so far for the oldest request (only it can be collecting).
    private var headReceived = 0
    /// Those replies, when the oldest request is a batch whose waiter still waits.
    private var headBatch: [RESPValue] = []
    private var lastID: UInt64 = 0

    init(configuration: Configuration, now: NIODeadline) {
        self.configuration = configuration
        self.lastActivity = now
    }

    /// Requests written and not yet answered.
    var queuedCount: Int { pending.count }

    /// Whether the connection is closed (or closing).
    var isClosed: Bool { closedBy != nil }

    /// The replies the oldest request still waits for (0 when nothing is queued).
    var repliesWanted: Int {
        guard let head = pending.first else { return 0 }
        return head.replies - headReceived
    }

    /// A fresh request identifier.
    mutating func nextRequestID() -> UInt64 {
        lastID &+= 1
        return lastID
    }

    // MARK: Requests

    /// A request of `replies` commands is to be written.
    /// - Parameter canWrite: whether the handler has a channel to write to.
    mutating func enqueue(id: UInt64, replies: Int, waiter: Waiter, canWrite: Bool, now: NIODeadline) -> EnqueueAction {
        guard canWrite, closedBy == nil else {
            let reason = closedBy ?? CacheError(.connection, "connection closed")
            return .fail(waiter, CacheError(.connection, reason.message, underlying: RedisRequestNotSent(reason: reason)))
        }
        guard pending.count < configuration.maxQueuedRequests else {
            return .fail(
                waiter,
                CacheError(
                    .busy,
                    "\(pending.count) commands already wait for a reply on this Redis connection (maxQueuedCommands); the server is not keeping up"
                )
            )
        }
        lastActivity = now
        let deadline = now + configuration.commandTimeout
        pending.append(Request(id: id, waiter: waiter, replies: replies, deadline: deadline))
        if commandTimerArmed { return .write(armTimerAt: nil) }
        commandTimerArmed = true
        return .write(armTimerAt: deadline)
    }

    /// The task waiting on request `id` was cancelled: its waiter, to fail with `.cancelled` at
    /// once, or `nil` when it was already answered. The slot stays, so the later reply is
    /// consumed there.
    mutating func cancel(id: UInt64) -> Waiter? {
        guard let index = pending.firstIndex(where: { $0.id == id }), let waiter = pending[index].waiter else { return nil }
        pending[index].waiter = nil
        if index == pending.startIndex { headBatch = [] }
        return waiter
    }

    // MARK: Replies

    /// Bytes arrived (for the idle timeout).
    mutating func bytesReceived(now: NIODeadline) {
        if configuration.idleTimeout != nil { lastActivity = now }
    }

    /// One reply was decoded.
    mutating func replyReceived(_ value: RESPValue) -> ReplyAction {
        guard closedBy == nil else { return .none }
        if case .push = value { return .none }
        guard let head = pending.first else {
            return .close(fail(CacheError(.protocolError, "Redis sent a reply that no command was waiting for")))
        }
        if head.replies == 1 {
            pending.removeFirst()
            guard let waiter = head.waiter else { return .none }
            return .succeed(waiter, value)
        }
        return collect(CollectionOfOne(value), head: head)
    }

    /// Replies decoded in one pass for the oldest request, a batch (at most ``repliesWanted``).
    mutating func batchReceived(_ values: [RESPValue]) -> ReplyAction {
        guard closedBy == nil, !values.isEmpty else { return .none }
        guard let head = pending.first else {
            return .close(fail(CacheError(.protocolError, "Redis sent a reply that no command was waiting for")))
        }
        // The whole batch in one pass, nothing out of band: hand the array over as it is.
        if headReceived == 0, values.count == head.replies, !values.contains(where: \.isPush) {
            pending.removeFirst()
            headBatch = []
            guard let waiter = head.waiter else { return .none }
            return .succeedBatch(waiter, values)
        }
        return collect(values, head: head)
    }

    private mutating func collect(_ values: some Collection<RESPValue>, head: Request) -> ReplyAction {
        var received = headReceived
        for value in values {
            if case .push = value { continue }  // out-of-band, not a reply
            if head.waiter != nil {
                if headBatch.isEmpty { headBatch.reserveCapacity(head.replies) }
                headBatch.append(value)
            }
            received += 1
        }
        precondition(received <= head.replies, "more replies handed over than the batch asked for")
        guard received == head.replies else {
            headReceived = received
            return .none
        }
        headReceived = 0
        pending.removeFirst()
        let batch = headBatch
        headBatch = []
        guard let waiter = head.waiter else { return .none }
        return .succeedBatch(waiter, batch)
    }

    /// The decoder refused the bytes (not RESP, or a reply above the size cap). The oldest
    /// request gets `error`; when it is about that reply's size, the others fail with
    /// `.connection`, since only the connection failed them.
    mutating func decodingFailed(_ error: CacheError) -> Failures {
        guard closedBy == nil else { return Failures() }
        guard error.code == .tooLarge else { return fail(error) }
        closedBy = error
        var failures = Failures()
        let others = CacheError(.connection, "connection closed: \(error.message)")
        var first = true
        while let next = pending.popFirst() {
            if let waiter = next.waiter { failures.waiters.append((waiter, first ? error : others)) }
            first = false
        }
        clearHead()
        return failures
    }

    // MARK: Closing

    /// The channel closed, failed or the handler was removed: fail everything queued with
    /// `error` and refuse new requests.
    mutating func closed(_ error: CacheError) -> Failures {
        fail(error)
    }

    private mutating func fail(_ error: CacheError) -> Failures {
        if closedBy == nil { closedBy = error }
        var failures = Failures()
        while let next = pending.popFirst() {
            if let waiter = next.waiter { failures.waiters.append((waiter, error)) }
        }
        clearHead()
        return failures
    }

    private mutating func clearHead() {
        headReceived = 0
        headBatch = []
        commandTimerArmed = false
        idleTimerArmed = false
    }

    // MARK: Timers

    /// The command timer fired.
    mutating func commandTimerFired(now: NIODeadline) -> TimerAction {
        commandTimerArmed = false
        guard closedBy == nil, let head = pending.first else { return .none }
        guard head.deadline <= now else {
            commandTimerArmed = true
            return .rearm(head.deadline)
        }
        let seconds = Double(configuration.commandTimeout.nanoseconds) / 1e9
        return .close(fail(CacheError(.timeout, "Redis did not reply within \(seconds)s; the connection was closed")))
    }

    /// The channel became active (or the handler was added to an active one): where to arm the
    /// idle timer, if anywhere.
    mutating func channelActive(now: NIODeadline) -> NIODeadline? {
        guard let idleTimeout = configuration.idleTimeout, !idleTimerArmed, closedBy == nil else { return nil }
        idleTimerArmed = true
        lastActivity = now
        return now + idleTimeout
    }

    /// The idle timer fired.
    mutating func idleTimerFired(now: NIODeadline) -> TimerAction {
        idleTimerArmed = false
        guard let idleTimeout = configuration.idleTimeout, closedBy == nil else { return .none }
        let due = lastActivity + idleTimeout
        if pending.isEmpty, due <= now { return closeIfIdle() }
        // Busy, or active since: look again one idle period after the last activity (or from
        // now, while a command is in flight).
        idleTimerArmed = true
        return .rearm(pending.isEmpty ? due : now + idleTimeout)
    }

    /// An idle-state event from the pipeline: close when nothing is in flight.
    mutating func idleEvent() -> TimerAction {
        closeIfIdle()
    }

    private mutating func closeIfIdle() -> TimerAction {
        guard pending.isEmpty, closedBy == nil else { return .none }
        return .close(fail(CacheError(.connection, RedisRequestNotSent.idleCloseMessage)))
    }
}

extension RESPValue {
    /// Whether the value is an out-of-band push.
    var isPush: Bool {
        if case .push = self { return true }
        return false
    }
}

/// Marks a command that never reached the wire because its connection was already closed, so it
/// is safe to send again on another connection.
struct RedisRequestNotSent: Error, CustomStringConvertible {
    /// Why a connection closes when its idle timeout passes.
    static let idleCloseMessage = "connection closed after being idle"

    var reason: CacheError
    var description: String { "not sent: \(reason.message)" }

    /// Whether the connection had closed because it was idle: sending again is always right
    /// then, and cannot loop fast (each fresh connection must stay silent for a whole idle
    /// timeout before it closes).
    var closedIdle: Bool { reason.message == Self.idleCloseMessage }
}
