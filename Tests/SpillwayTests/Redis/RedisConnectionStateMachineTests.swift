import NIOCore
import Spillway
@testable import SpillwayRedis
import Testing

/// The connection's protocol logic, driven event by event: no socket, no event loop, no clock.
@Suite("Redis connection state machine")
struct RedisConnectionStateMachineTests {
    typealias Machine = RedisConnectionStateMachine<String>

    static func at(_ ms: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000_000_000 + ms * 1_000_000)) }

    func machine(timeout: Int64 = 1000, idle: Int64? = nil, maxQueued: Int = 100) -> Machine {
        Machine(
            configuration: .init(commandTimeout: .milliseconds(timeout), idleTimeout: idle.map { .milliseconds($0) }, maxQueuedRequests: maxQueued),
            now: Self.at(0)
        )
    }

    static func v(_ text: String) -> RESPValue { .simpleString(ByteBuffer(string: text)) }

    func succeeded(_ action: Machine.ReplyAction) -> (String, RESPValue)? {
        if case .succeed(let waiter, let value) = action { return (waiter, value) }
        return nil
    }

    func write(_ m: inout Machine, _ waiter: String, replies: Int = 1, at ms: Int64 = 0) -> (id: UInt64, timer: NIODeadline?) {
        let id = m.nextRequestID()
        guard case .write(let timer) = m.enqueue(id: id, replies: replies, waiter: waiter, canWrite: true, now: Self.at(ms)) else {
            Issue.record("\(waiter) was not written")
            return (id, nil)
        }
        return (id, timer)
    }

    @Test("replies go to requests in order; only the first request arms the command timer")
    func fifo() {
        var m = machine()
        #expect(write(&m, "a").timer == Self.at(1000))
        #expect(write(&m, "b", at: 10).timer == nil)
        #expect(write(&m, "c", at: 20).timer == nil)
        #expect(m.queuedCount == 3 && m.repliesWanted == 1)
        #expect(succeeded(m.replyReceived(Self.v("1")))! == ("a", Self.v("1")))
        #expect(m.replyReceived(.push([Self.v("p")])).isNone, "a push is not a reply")
        #expect(succeeded(m.replyReceived(Self.v("2")))! == ("b", Self.v("2")))
        #expect(succeeded(m.replyReceived(Self.v("3")))! == ("c", Self.v("3")))
        #expect(m.queuedCount == 0 && m.repliesWanted == 0)
    }

    @Test("a batch collects its replies across passes, skipping pushes, and is handed over whole")
    func batch() {
        var m = machine()
        _ = write(&m, "batch", replies: 3)
        _ = write(&m, "after")
        #expect(m.repliesWanted == 3)
        #expect(m.batchReceived([Self.v("1"), .push([])]).isNone)
        #expect(m.repliesWanted == 2)
        guard case .succeedBatch(let waiter, let values) = m.batchReceived([Self.v("2"), Self.v("3")]) else {
            Issue.record("the batch was not completed")
            return
        }
        #expect(waiter == "batch" && values == [Self.v("1"), Self.v("2"), Self.v("3")])
        #expect(succeeded(m.replyReceived(Self.v("4")))?.0 == "after")
        // A batch in one pass is handed over as it is.
        _ = write(&m, "whole", replies: 2)
        guard case .succeedBatch("whole", let whole) = m.batchReceived([Self.v("x"), Self.v("y")]) else {
            Issue.record("one-pass batch")
            return
        }
        #expect(whole == [Self.v("x"), Self.v("y")])
    }

    @Test("a cancelled request keeps its slot: its late reply is dropped, not given to the next")
    func cancel() {
        var m = machine()
        let first = write(&m, "a")
        _ = write(&m, "b")
        #expect(m.cancel(id: first.id) == "a")
        #expect(m.cancel(id: first.id) == nil, "cancelled once")
        #expect(m.replyReceived(Self.v("for a")).isNone)
        #expect(succeeded(m.replyReceived(Self.v("for b")))! == ("b", Self.v("for b")))
        #expect(m.cancel(id: 12345) == nil)
    }

    @Test("a reply nobody asked for closes the connection; later requests fail as not sent")
    func unexpectedReply() {
        var m = machine()
        guard case .close(let failures) = m.replyReceived(Self.v("stray")) else {
            Issue.record("a stray reply must close")
            return
        }
        #expect(failures.waiters.isEmpty && m.isClosed)
        guard case .fail("late", let error) = m.enqueue(id: m.nextRequestID(), replies: 1, waiter: "late", canWrite: true, now: Self.at(5)) else {
            Issue.record("a closed connection must refuse")
            return
        }
        #expect(error.code == .connection && error.underlying is RedisRequestNotSent)
        var unconnected = machine()
        guard case .fail(_, let noChannel) = unconnected.enqueue(id: 1, replies: 1, waiter: "x", canWrite: false, now: Self.at(0)) else {
            Issue.record("no channel must refuse")
            return
        }
        #expect(noChannel.underlying is RedisRequestNotSent)
    }

    @Test("the command timer re-arms for the oldest request, then fails everything with timeout")
    func commandTimeout() {
        var m = machine(timeout: 1000)
        let a = write(&m, "a", at: 0)
        _ = write(&m, "b", at: 500)
        #expect(a.timer == Self.at(1000))
        #expect(succeeded(m.replyReceived(Self.v("1")))?.0 == "a")
        // Fired for a, which was answered: re-arm for b.
        guard case .rearm(let next) = m.commandTimerFired(now: Self.at(1000)) else {
            Issue.record("must re-arm for b")
            return
        }
        #expect(next == Self.at(1500))
        guard case .close(let failures) = m.commandTimerFired(now: Self.at(1500)) else {
            Issue.record("b is overdue")
            return
        }
        #expect(failures.waiters.map(\.0) == ["b"])
        #expect(failures.waiters.allSatisfy { $0.1.code == .timeout })
        #expect(m.isClosed)
        #expect(m.commandTimerFired(now: Self.at(2000)).isNone)
    }

    @Test("the queue is bounded: a request beyond maxQueuedRequests fails with busy, unsent")
    func queueBound() {
        var m = machine(maxQueued: 2)
        _ = write(&m, "a")
        _ = write(&m, "b")
        guard case .fail("c", let error) = m.enqueue(id: m.nextRequestID(), replies: 1, waiter: "c", canWrite: true, now: Self.at(1)) else {
            Issue.record("the third must be refused")
            return
        }
        #expect(error.code == .busy && error.failureClass == .busy)
        #expect(!(error.underlying is RedisRequestNotSent), "a full queue is not a closed connection")
        #expect(!m.isClosed && m.queuedCount == 2)
        _ = m.replyReceived(Self.v("1"))
        _ = write(&m, "d")
        #expect(m.queuedCount == 2)
    }

    @Test("a reply too large fails its request with tooLarge and the others with connection")
    func tooLarge() {
        var m = machine()
        _ = write(&m, "big")
        let abandoned = write(&m, "gone")
        _ = write(&m, "other")
        _ = m.cancel(id: abandoned.id)
        let failures = m.decodingFailed(CacheError(.tooLarge, "too big"))
        #expect(failures.waiters.map(\.0) == ["big", "other"])
        #expect(failures.waiters.map(\.1.code) == [.tooLarge, .connection])
        #expect(m.isClosed)
        var bad = machine()
        _ = write(&bad, "a")
        _ = write(&bad, "b")
        #expect(bad.decodingFailed(CacheError(.protocolError, "junk")).waiters.map(\.1.code) == [.protocolError, .protocolError])
    }

    @Test("closing fails every waiting request once, and skips abandoned ones")
    func closing() {
        var m = machine()
        let a = write(&m, "a")
        _ = write(&m, "b", replies: 2)
        _ = m.cancel(id: a.id)
        #expect(m.batchReceived([]).isNone)
        let failures = m.closed(CacheError(.connection, "reset"))
        #expect(failures.waiters.map(\.0) == ["b"])
        #expect(m.closed(CacheError(.connection, "again")).waiters.isEmpty)
        #expect(m.replyReceived(Self.v("late")).isNone, "nothing is delivered after the close")
    }

    @Test("idle: closes only when nothing is in flight and the idle period has passed")
    func idle() {
        var m = machine(idle: 100)
        #expect(m.channelActive(now: Self.at(0)) == Self.at(100))
        #expect(m.channelActive(now: Self.at(1)) == nil, "armed once")
        // Activity at 50: look again at 150.
        _ = write(&m, "a", at: 50)
        _ = m.replyReceived(Self.v("1"))
        guard case .rearm(let next) = m.idleTimerFired(now: Self.at(100)) else {
            Issue.record("active since: re-arm")
            return
        }
        #expect(next == Self.at(150))
        // In flight: never closed, looked at again one period later.
        _ = write(&m, "b", at: 140)
        guard case .rearm(let busy) = m.idleTimerFired(now: Self.at(300)) else {
            Issue.record("busy: re-arm")
            return
        }
        #expect(busy == Self.at(400))
        #expect(m.idleEvent().isNone, "an idle event with a command in flight does nothing")
        _ = m.replyReceived(Self.v("2"))
        m.bytesReceived(now: Self.at(350))
        guard case .rearm = m.idleTimerFired(now: Self.at(400)) else {
            Issue.record("read at 350: not idle until 450")
            return
        }
        guard case .close(let failures) = m.idleTimerFired(now: Self.at(450)) else {
            Issue.record("idle: close")
            return
        }
        #expect(failures.waiters.isEmpty && m.isClosed)
    }
}

extension RedisConnectionStateMachine.ReplyAction {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

extension RedisConnectionStateMachine.TimerAction {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
