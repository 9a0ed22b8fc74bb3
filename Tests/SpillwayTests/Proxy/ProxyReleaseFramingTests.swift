import NIOCore
import Spillway
import SpillwayProxy
import SpillwayRedis
import Testing

/// The cheap atomic release: a command that replaces every key it names goes upstream in a
/// `MULTI` of the proxy's own after a `GETRANGE` of each key's head; a command whose reply is
/// the old value releases from that reply. No sockets: the bytes sent and the replies applied.
@Suite("Proxy release framing: MULTI + GETRANGE, and old values")
struct ProxyReleaseFramingTests {
    static let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: true))
    static let ok = RESPValue.simpleString(ByteBuffer(string: "OK"))
    static let secret = XXH3Secret(keyMaterial: "test-secret")

    func rules(_ store: MemoryBlobStore) -> ProxyRules {
        ProxyRules(
            policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 64, keyOverflow: .hash, spillAbove: 1024)),
            keyGuard: KeyGuard(hasher: KeyHasher(secret: Self.secret)), spill: ProxySpill(ValueSpill(store: store, secret: Self.secret))
        )
    }

    func rewrite(_ rules: ProxyRules, _ request: ProxyRequest, framing: ProxyRules.ReleaseFraming = .transaction) async -> (ProxyRequest, ReplyPlan)? {
        guard case .forward(let command, let plan) = await rules.rewrite(request, route: nil, table: Self.table, framing: framing, getKeys: { _ throws(CacheError) in [] })
        else { return nil }
        return (command, plan)
    }

    /// A value spilled under `key`: the pointer the upstream would hold.
    func spilled(_ rules: ProxyRules, key: String, seed: UInt8 = 7) async throws -> ByteBuffer {
        let (set, _) = try #require(await rewrite(rules, ProxyRequest([ByteBuffer(string: "SET"), ByteBuffer(string: key), ByteBuffer(repeating: seed, count: 3000)])))
        guard case .pointer = SpillEnvelope.decode(set.arguments[2]) else {
            Issue.record("not spilled")
            return ByteBuffer()
        }
        return set.arguments[2]
    }

    @Test("commands that replace every key they name are sent as they are, with a plan for their own MULTI; expires keep the script; the old-value commands need neither")
    func classification() async throws {
        let rules = rules(MemoryBlobStore())
        for (request, keys) in [
            (ProxyRequest("SET", "k", "v"), ["k"]), (ProxyRequest("SET", "k", "v", "EX", "10", "XX"), ["k"]), (ProxyRequest("SET", "k", "v", "KEEPTTL"), ["k"]),
            (ProxyRequest("SETEX", "k", "9", "v"), ["k"]), (ProxyRequest("PSETEX", "k", "9", "v"), ["k"]), (ProxyRequest("MSET", "a", "1", "b", "2"), ["a", "b"]),
        ] {
            let (command, plan) = try #require(await rewrite(rules, request))
            #expect(command == request, "\(request.name) goes as the client sent it")
            guard case .releasingInTransaction(_, let planned, _) = plan else {
                Issue.record("\(request.arguments.map { String(buffer: $0) }) has no transaction plan: \(plan)")
                continue
            }
            #expect(planned == keys.map { CacheKey($0) })
        }
        for request in [ProxyRequest("SET", "k", "v", "GET"), ProxyRequest("SET", "k", "v", "XX", "GET"), ProxyRequest("GETSET", "k", "v"), ProxyRequest("GETDEL", "k")] {
            for framing in [ProxyRules.ReleaseFraming.transaction, .script] {
                let (command, plan) = try #require(await rewrite(rules, request, framing: framing))
                #expect(command == request)
                guard case .releasingOldValue(_, let key, _) = plan else {
                    Issue.record("\(request.name) is not released from its reply: \(plan)")
                    continue
                }
                #expect(key == CacheKey("k"))
            }
        }
        for request in [
            ProxyRequest("EXPIRE", "a", "0"), ProxyRequest("PEXPIREAT", "a", "1"), ProxyRequest("GETEX", "a", "EX", "5"), ProxyRequest("DEL", "a", "b"),
            ProxyRequest("UNLINK", "a"),
        ] {
            let (command, _) = try #require(await rewrite(rules, request))
            #expect(command.name == "EVAL", "\(request.name): the TTL after it, or a delete at maxmemory (refused in a MULTI): the script")
        }
        let (scripted, _) = try #require(await rewrite(rules, ProxyRequest("SET", "k", "v"), framing: .script))
        #expect(scripted.name == "EVAL", "inside the client's MULTI, under WATCH: the script")
        for request in [ProxyRequest("SET", "k", "v", "NX"), ProxyRequest("SET", "k", "v", "NX", "GET"), ProxyRequest("SETNX", "k", "v"), ProxyRequest("GET", "k")] {
            let (command, plan) = try #require(await rewrite(rules, request))
            #expect(command == request)
            if case .releasingInTransaction = plan { Issue.record("\(request.name) replaces nothing") }
            if case .releasingOldValue = plan { Issue.record("\(request.name) replaces nothing") }
        }
    }

    @Test("the frame is MULTI, a GETRANGE of each key's head, the client's own bytes, EXEC")
    func frameBytes() async throws {
        let rules = rules(MemoryBlobStore())
        var parser = ProxyRequestParser()
        parser.append(ByteBuffer(string: "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nv1\r\n"))
        let request = try #require(try parser.next())
        let (command, plan) = try #require(await rewrite(rules, request))
        guard case .releasingInTransaction(_, let keys, _) = plan else {
            Issue.record("no transaction plan")
            return
        }
        var out = ByteBuffer()
        ProxyRules.writeInTransaction(command, keys: keys, into: &out)
        let last = String(ValueSpill<MemoryBlobStore>.previousHeadBytes - 1)
        #expect(
            String(buffer: out)
                == "*1\r\n$5\r\nMULTI\r\n*4\r\n$8\r\nGETRANGE\r\n$1\r\nk\r\n$1\r\n0\r\n$\(last.count)\r\n\(last)\r\n"
                + "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nv1\r\n*1\r\n$4\r\nEXEC\r\n"
        )
    }

    @Test("EXEC's array carries the heads and the command's reply; a transaction refused at queue time answers the command's own error")
    func execReply() {
        let heads = RESPValue.array([.null, Self.ok])
        #expect(ProxyRules.execReply(heads, unqueued: nil, keys: 1) == heads)
        let oom = RESPValueWriter.error("OOM command not allowed when used memory > 'maxmemory'.")
        let abort = RESPValueWriter.error("EXECABORT Transaction discarded because of previous errors.")
        #expect(ProxyRules.execReply(abort, unqueued: oom, keys: 1) == oom)
        #expect(ProxyRules.execReply(abort, unqueued: nil, keys: 1) == abort)
        // Queued, then refused at EXEC (the memory went over in between): the reason, as the
        // command alone would have been refused.
        let execOOM = RESPValueWriter.error("EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.")
        #expect(ProxyRules.execReply(execOOM, unqueued: nil, keys: 1) == oom)
        #expect(ProxyRules.execReply(.array([Self.ok]), unqueued: nil, keys: 1) == .array([Self.ok]), "a shape it does not know passes as it is")
        // The steps: +QUEUED keeps nothing; the command's error wins over another step's.
        let queued = RESPValue.simpleString(ByteBuffer(string: "QUEUED"))
        var kept = ProxyRules.unqueued(Self.ok, isCommand: false, kept: nil)
        kept = ProxyRules.unqueued(queued, isCommand: false, kept: kept)
        #expect(ProxyRules.unqueued(queued, isCommand: true, kept: kept) == nil)
        let noPerm = RESPValueWriter.error("NOPERM this user has no permissions to run the 'getrange' command")
        #expect(ProxyRules.unqueued(oom, isCommand: true, kept: noPerm) == oom)
        #expect(ProxyRules.unqueued(queued, isCommand: true, kept: noPerm) == noPerm)
        // MULTI refused (an ACL without it): the command ran at once, and its reply is the answer.
        let noMulti = RESPValueWriter.error("NOPERM this user has no permissions to run the 'multi' command")
        kept = ProxyRules.unqueued(noMulti, isCommand: false, kept: nil)
        kept = ProxyRules.unqueued(.bulkString(ByteBuffer(string: "old")), isCommand: false, kept: kept)
        kept = ProxyRules.unqueued(Self.ok, isCommand: true, kept: kept)
        #expect(ProxyRules.execReply(RESPValueWriter.error("ERR EXEC without MULTI"), unqueued: kept, keys: 1) == Self.ok)
    }

    @Test("a replaced pointer of the key is released after a successful command; kept when the command stored nothing, failed or was shed, or the pointer is another key's")
    func applyTransaction() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store)
        let pointer = try await spilled(rules, key: "big")
        #expect(await store.count == 1)
        let (_, overwrite) = try #require(await rewrite(rules, ProxyRequest("SET", "big", "small")))
        // Nothing the command replaced was a pointer: answered at once, the command's own reply.
        let raw = RESPValue.array([.bulkString(ByteBuffer(string: "raw")), Self.ok])
        #expect(!rules.needsWork(overwrite, for: raw))
        #expect(rules.applyNow(overwrite, to: raw) == Self.ok)
        #expect(rules.applyNow(overwrite, to: .array([RESPValueWriter.error("WRONGTYPE Operation against a key holding the wrong kind of value"), Self.ok])) == Self.ok)
        // SET XX on a missing key, a command that failed, an -OOM shed: nothing released.
        let (_, onlyIfExists) = try #require(await rewrite(rules, ProxyRequest("SET", "big", "small", "XX")))
        #expect(await rules.apply(onlyIfExists, to: .array([.bulkString(pointer), .null])) == .null)
        let syntax = RESPValueWriter.error("ERR syntax error")
        #expect(await rules.apply(overwrite, to: .array([.bulkString(pointer), syntax])) == syntax)
        let oom = RESPValueWriter.error("OOM command not allowed when used memory > 'maxmemory'.")
        #expect(await rules.apply(overwrite, to: oom) == Self.ok, "an unconditional SET on a shed route")
        // Another key's write never releases this key's pointer.
        let (_, other) = try #require(await rewrite(rules, ProxyRequest("SET", "other", "v")))
        #expect(await rules.apply(other, to: .array([.bulkString(pointer), Self.ok])) == Self.ok)
        #expect(await store.count == 1)
        // The overwrite that replaced it releases it.
        #expect(rules.needsWork(overwrite, for: .array([.bulkString(pointer), Self.ok])))
        #expect(await rules.apply(overwrite, to: .array([.bulkString(pointer), Self.ok])) == Self.ok)
        #expect(await store.count == 0)
        // MSET: each key's own head.
        let a = try await spilled(rules, key: "a", seed: 1)
        let b = try await spilled(rules, key: "b", seed: 2)
        #expect(await store.count == 2)
        let (_, mset) = try #require(await rewrite(rules, ProxyRequest("MSET", "a", "1", "b", "2")))
        #expect(await rules.apply(mset, to: .array([.bulkString(a), .bulkString(b), Self.ok])) == Self.ok)
        #expect(await store.count == 0)
    }

    @Test("an old value in the reply is resolved for the client, then its blob is released; a raw one releases nothing")
    func applyOldValue() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store)
        let pointer = try await spilled(rules, key: "k", seed: 9)
        let (_, getset) = try #require(await rewrite(rules, ProxyRequest("GETSET", "k", "v")))
        #expect(!rules.needsWork(getset, for: .bulkString(ByteBuffer(string: "raw"))))
        #expect(await rules.apply(getset, to: .bulkString(ByteBuffer(string: "raw"))) == .bulkString(ByteBuffer(string: "raw")))
        #expect(await store.count == 1)
        #expect(rules.needsWork(getset, for: .bulkString(pointer)))
        #expect(await rules.apply(getset, to: .bulkString(pointer)) == .bulkString(ByteBuffer(repeating: 9, count: 3000)))
        #expect(await store.count == 0)
        let again = try await spilled(rules, key: "k", seed: 3)
        let (_, getdel) = try #require(await rewrite(rules, ProxyRequest("GETDEL", "k")))
        #expect(await rules.apply(getdel, to: .bulkString(again)) == .bulkString(ByteBuffer(repeating: 3, count: 3000)))
        #expect(await store.count == 0)
        let wrongType = RESPValueWriter.error("WRONGTYPE Operation against a key holding the wrong kind of value")
        let (_, setGet) = try #require(await rewrite(rules, ProxyRequest("SET", "k", "v", "GET")))
        #expect(await rules.apply(setGet, to: wrongType) == wrongType)
    }
}
