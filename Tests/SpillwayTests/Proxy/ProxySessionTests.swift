import NIOCore
import Spillway
import SpillwayProxy
import SpillwayRedis
import Testing

@Suite("Proxy session state machine")
struct ProxySessionTests {
    static func bulk(_ s: String) -> RESPValue { .bulkString(ByteBuffer(string: s)) }

    @Test("MULTI … EXEC: queued commands answer QUEUED, their plans apply to EXEC's elements, and nothing is shed")
    func transaction() {
        var session = ProxySession()
        #expect(session.forwarded(ProxyRequest("MULTI"), plan: .pass).isPass)
        let queued = session.forwarded(ProxyRequest("SET", "k", "v"), plan: .write(WritePlan(shedOnOOM: true)))
        #expect(queued.isPass)
        _ = session.forwarded(ProxyRequest("GET", "k"), plan: .resolveValue(CacheKey("k"), route: nil))
        #expect(session.inTransaction)
        guard case .exec(let plans) = session.forwarded(ProxyRequest("EXEC"), plan: .pass) else {
            Issue.record("EXEC has no exec plan")
            return
        }
        #expect(plans.count == 2)
        guard case .write(let write) = plans[0] else {
            Issue.record("the SET's plan was lost")
            return
        }
        #expect(!write.shedOnOOM)
        #expect(!session.inTransaction)
        #expect(session.forwarded(ProxyRequest("EXEC"), plan: .pass).isPass)
    }

    @Test("a MULTI of the proxy's own frames releases only outside the client's transaction, WATCH, pub/sub and MONITOR; UNWATCH inside MULTI is queued")
    func releaseFraming() {
        var session = ProxySession()
        #expect(session.releaseFraming == .transaction)
        _ = session.forwarded(ProxyRequest("WATCH", "k"), plan: .pass)
        #expect(session.releaseFraming == .script, "its EXEC would drop the client's watches")
        _ = session.forwarded(ProxyRequest("UNWATCH"), plan: .pass)
        #expect(session.releaseFraming == .transaction)
        _ = session.forwarded(ProxyRequest("WATCH", "k"), plan: .pass)
        _ = session.forwarded(ProxyRequest("EXEC"), plan: .pass)
        #expect(session.releaseFraming == .script, "EXEC without MULTI leaves the watches")
        _ = session.forwarded(ProxyRequest("MULTI"), plan: .pass)
        #expect(session.releaseFraming == .script, "a MULTI cannot nest")
        _ = session.forwarded(ProxyRequest("UNWATCH"), plan: .pass)
        #expect(session.queued.count == 1, "UNWATCH inside MULTI is queued, its reply is an element of EXEC's")
        guard case .exec(let plans) = session.forwarded(ProxyRequest("EXEC"), plan: .pass) else {
            Issue.record("EXEC has no exec plan")
            return
        }
        #expect(plans.count == 1)
        #expect(session.releaseFraming == .transaction, "EXEC drops the watches")
        _ = session.forwarded(ProxyRequest("WATCH", "k"), plan: .pass)
        _ = session.forwarded(ProxyRequest("MULTI"), plan: .pass)
        _ = session.forwarded(ProxyRequest("DISCARD"), plan: .pass)
        #expect(session.releaseFraming == .transaction, "DISCARD drops the watches")
        var monitor = ProxySession()
        _ = monitor.forwarded(ProxyRequest("MONITOR"), plan: .pass)
        #expect(monitor.releaseFraming == .script)
        var subscriber = ProxySession()
        _ = subscriber.forwarded(ProxyRequest("SUBSCRIBE", "ch"), plan: .pass)
        #expect(subscriber.releaseFraming == .script)
        _ = session.forwarded(ProxyRequest("WATCH", "k"), plan: .pass)
        _ = session.forwarded(ProxyRequest("RESET"), plan: .pass)
        #expect(session.releaseFraming == .transaction, "RESET drops the watches")
    }

    @Test("DISCARD drops the queued plans")
    func discard() {
        var session = ProxySession()
        _ = session.forwarded(ProxyRequest("MULTI"), plan: .pass)
        _ = session.forwarded(ProxyRequest("GET", "k"), plan: .resolveValue(CacheKey("k"), route: nil))
        _ = session.forwarded(ProxyRequest("DISCARD"), plan: .pass)
        #expect(!session.inTransaction)
        #expect(session.queued.isEmpty)
    }

    @Test("SUBSCRIBE has no reply of its own; RESP2 pub/sub arrays and RESP3 pushes are pushes; other replies are replies")
    func pubSub() {
        var session = ProxySession()
        let message: RESPValue = .array([Self.bulk("message"), Self.bulk("ch"), Self.bulk("hi")])
        #expect(session.kind(of: message) == .reply)
        #expect(session.forwarded(ProxyRequest("SUBSCRIBE", "ch"), plan: .pass).isNone)
        #expect(session.kind(of: message) == .push)
        #expect(session.kind(of: .array([Self.bulk("subscribe"), Self.bulk("ch"), .integer(1)])) == .push)
        #expect(session.kind(of: .array([Self.bulk("pong"), Self.bulk("")])) == .reply)
        #expect(session.kind(of: .push([Self.bulk("message"), Self.bulk("ch"), Self.bulk("x")])) == .push)
        #expect(session.kind(of: .integer(1)) == .reply)
        // A SUBSCRIBE without channels gets an error reply of its own.
        #expect(session.forwarded(ProxyRequest("SUBSCRIBE"), plan: .pass).isPass)
    }

    @Test("MONITOR turns every later reply into a push")
    func monitor() {
        var session = ProxySession()
        _ = session.forwarded(ProxyRequest("MONITOR"), plan: .pass)
        #expect(session.kind(of: .simpleString(ByteBuffer(string: "1.2 [0] \"GET\""))) == .push)
    }

    @Test("CLIENT REPLY OFF and SKIP are refused; CLIENT SETNAME and HELLO SETNAME name the route")
    func clientCommands() {
        var session = ProxySession()
        #expect(session.admit(ProxyRequest("CLIENT", "REPLY", "OFF")) != .forward)
        #expect(session.admit(ProxyRequest("client", "reply", "skip")) != .forward)
        #expect(session.admit(ProxyRequest("CLIENT", "REPLY", "ON")) == .forward)
        _ = session.forwarded(ProxyRequest("CLIENT", "SETNAME", "celery"), plan: .pass)
        #expect(session.clientName == "celery")
        _ = session.forwarded(ProxyRequest("HELLO", "3", "SETNAME", "django"), plan: .pass)
        #expect(session.clientName == "django")
        session.helloAnswered(.map([]))
        #expect(session.resp3)
        _ = session.forwarded(ProxyRequest("RESET"), plan: .pass)
        #expect(session.clientName == nil)
        #expect(!session.resp3)
    }
}

extension ReplyPlan {
    var isPass: Bool {
        if case .pass = self { return true }
        return false
    }
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
