import NIOCore
import Spillway
import SpillwayProxy
import SpillwayRedis
import Testing

@Suite("Proxy rules: key guard, spill and OOM ladder")
struct ProxyRulesTests {
    static let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: true))
    static let policies = PolicyTable(
        defaults: CachePolicy(maxKeyBytes: 64, keyOverflow: .hash, spillAbove: 1024),
        prefixes: ["lock:": PolicyOverrides(onOOM: .fail), "strict:": PolicyOverrides(keyOverflow: .reject)]
    )

    func rules(spill: Bool = true, store: MemoryBlobStore = MemoryBlobStore()) -> ProxyRules {
        ProxyRules(
            policies: Self.policies, keyGuard: KeyGuard(hasher: KeyHasher(secret: XXH3Secret(keyMaterial: "test-secret"))),
            spill: spill ? ProxySpill(ValueSpill(store: store, secret: XXH3Secret(keyMaterial: "test-secret"))) : nil
        )
    }

    func rewrite(_ rules: ProxyRules, _ request: ProxyRequest, route: String? = nil) async -> ProxyRules.Rewrite {
        await rules.rewrite(request, route: route, table: Self.table) { _ throws(CacheError) in [] }
    }

    /// The forwarded command (the client's own, when it was wrapped to release replaced blobs)
    /// and its plan.
    func forwarded(_ rewrite: ProxyRules.Rewrite) -> (ProxyRequest, ReplyPlan)? {
        if case .forward(let request, let plan) = rewrite { return (ProxyRules.releasedCommand(request) ?? request, plan) }
        return nil
    }

    @Test("a key over maxKeyBytes is hashed exactly as KeyGuard hashes it, in plain commands and in EVAL's KEYS")
    func hashing() async throws {
        let rules = rules(spill: false)
        let long = "throttle_" + String(repeating: "x", count: 10_000)
        let expected = KeyHasher(secret: XXH3Secret(keyMaterial: "test-secret")).hashed(CacheKey(long), maxKeyBytes: 64)
        let (set, _) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", long, "v"))))
        #expect(set.arguments[1] == expected.bytes)
        #expect(set.arguments[1].readableBytes <= 64)
        let (eval, _) = try #require(forwarded(await rewrite(rules, ProxyRequest("EVAL", "return KEYS[1]", "2", long, "short", long))))
        #expect(eval.arguments[3] == expected.bytes)
        #expect(eval.arguments[4] == ByteBuffer(string: "short"))
        #expect(eval.arguments[5] == ByteBuffer(string: long), "ARGV is not a key")
        let (short, _) = try #require(forwarded(await rewrite(rules, ProxyRequest("GET", "short"))))
        #expect(short.arguments[1] == ByteBuffer(string: "short"))
        #expect(rules.stats.count(.keysHashed) == 2)
        // The short path (one key, the first argument) hashes exactly the same.
        let get = try #require(rules.rewriteNow(ProxyRequest("GET", long), route: nil, table: Self.table))
        let (got, _) = try #require(forwarded(get))
        #expect(got.arguments[1] == expected.bytes)
        let shaped = try #require(forwarded(await rewrite(rules, ProxyRequest([ByteBuffer(string: "GET"), expected.bytes]))))
        #expect(shaped.0.arguments[1] != expected.bytes, "a key shaped like a hashed key is hashed again, never taken as one")
    }

    @Test("keyOverflow: reject answers an error and forwards nothing")
    func reject() async {
        let rules = rules(spill: false)
        guard case .answer(let error) = await rewrite(rules, ProxyRequest("SET", "strict:" + String(repeating: "y", count: 100), "v")) else {
            Issue.record("an oversized key under reject was forwarded")
            return
        }
        #expect(error.errorMessage?.contains("exceeds maxKeyBytes") == true)
    }

    @Test("a blocking pop's reply names the client's key, not the hashed one")
    func blockingMapBack() async throws {
        let rules = rules(spill: false)
        let long = String(repeating: "q", count: 200)
        let (request, plan) = try #require(forwarded(await rewrite(rules, ProxyRequest("BLPOP", long, "0"))))
        let reply = await rules.apply(plan, to: .array([.bulkString(request.arguments[1]), .bulkString(ByteBuffer(string: "job"))]))
        #expect(reply == .array([.bulkString(ByteBuffer(string: long)), .bulkString(ByteBuffer(string: "job"))]))
    }

    @Test("a big value is spilled behind a pointer and GET resolves it byte for byte")
    func spillRoundTrip() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store: store)
        let value = String(repeating: "v", count: 5000)
        let (set, plan) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "big", value, "EX", "60"))))
        let pointer = set.arguments[2]
        #expect(pointer.readableBytes < 200)
        guard case .pointer = SpillEnvelope.decode(pointer) else {
            Issue.record("the value was not replaced by a pointer")
            return
        }
        #expect(await rules.apply(plan, to: .simpleString(ByteBuffer(string: "OK"))) == .simpleString(ByteBuffer(string: "OK")))
        let (_, getPlan) = try #require(forwarded(await rewrite(rules, ProxyRequest("GET", "big"))))
        #expect(await rules.apply(getPlan, to: .bulkString(pointer)) == .bulkString(ByteBuffer(string: value)))
        let (_, mgetPlan) = try #require(forwarded(await rewrite(rules, ProxyRequest("MGET", "big", "small"))))
        let many = await rules.apply(mgetPlan, to: .array([.bulkString(pointer), .bulkString(ByteBuffer(string: "s"))]))
        #expect(many == .array([.bulkString(ByteBuffer(string: value)), .bulkString(ByteBuffer(string: "s"))]))
        // Copied under another key, the pointer reads as a miss, never as the other key's bytes.
        let (_, other) = try #require(forwarded(await rewrite(rules, ProxyRequest("GET", "other"))))
        #expect(await rules.apply(other, to: .bulkString(pointer)) == .null)
        #expect(rules.stats.count(.valuesSpilled) == 1)
    }

    @Test("a pointer whose blob was changed reads as a miss counted as corruption")
    func corruption() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store: store)
        let (set, _) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "big", String(repeating: "a", count: 4000)))))
        guard case .pointer(let pointer) = SpillEnvelope.decode(set.arguments[2]) else {
            Issue.record("not spilled")
            return
        }
        _ = await store.delete(pointer.id)
        let (_, get) = try #require(forwarded(await rewrite(rules, ProxyRequest("GET", "big"))))
        #expect(await rules.apply(get, to: .bulkString(set.arguments[2])) == .null)
    }

    @Test("a raw value that starts with the envelope magic is escaped and reads back unchanged")
    func escaping() async throws {
        let rules = rules()
        var raw = ByteBuffer(bytes: SpillEnvelope.magic)
        raw.writeString("P-not-a-pointer")
        let (set, _) = try #require(forwarded(await rewrite(rules, ProxyRequest([ByteBuffer(string: "SET"), ByteBuffer(string: "k"), raw]))))
        #expect(set.arguments[2] != raw)
        let (_, get) = try #require(forwarded(await rewrite(rules, ProxyRequest("GET", "k"))))
        #expect(await rules.apply(get, to: .bulkString(set.arguments[2])) == .bulkString(raw))
    }

    @Test("-OOM on an unconditional SET is answered +OK and counted; its blob is deleted")
    func oomShed() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store: store)
        let oom: RESPValue = .error(ByteBuffer(string: "OOM command not allowed when used memory > 'maxmemory'."))
        let (set, plan) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "big", String(repeating: "b", count: 3000), "PX", "100"))))
        guard case .pointer(let pointer) = SpillEnvelope.decode(set.arguments[2]) else {
            Issue.record("not spilled")
            return
        }
        #expect(await rules.apply(plan, to: oom) == .simpleString(ByteBuffer(string: "OK")))
        #expect(await store.get(pointer.id) == nil)
        #expect(rules.stats.count(.writesShed) == 1)
        for command in [ProxyRequest("SETEX", "k", "10", "v"), ProxyRequest("PSETEX", "k", "10", "v"), ProxyRequest("MSET", "a", "1", "b", "2")] {
            let (_, p) = try #require(forwarded(await rewrite(rules, command)))
            #expect(await rules.apply(p, to: oom) == .simpleString(ByteBuffer(string: "OK")), "\(command.name)")
        }
    }

    @Test("-OOM passes through for SET NX, SET GET, SETNX, GETSET and onOOM: fail keys: a lock never pretends")
    func oomPasses() async throws {
        let rules = rules()
        let oom: RESPValue = .error(ByteBuffer(string: "OOM command not allowed when used memory > 'maxmemory'."))
        for command in [
            ProxyRequest("SET", "k", "v", "NX", "PX", "30000"), ProxyRequest("SET", "k", "v", "GET"), ProxyRequest("SET", "k", "v", "XX"),
            ProxyRequest("SETNX", "k", "v"), ProxyRequest("GETSET", "k", "v"), ProxyRequest("SET", "lock:a", "v"), ProxyRequest("MSET", "a", "1", "lock:b", "2"),
        ] {
            let (_, plan) = try #require(forwarded(await rewrite(rules, command)))
            #expect(await rules.apply(plan, to: oom) == oom, "\(command.arguments.map { String(buffer: $0) })")
        }
        #expect(rules.stats.count(.writesShed) == 0)
        #expect(rules.stats.count(.oomPassed) == 7)
    }

    @Test("a command with incomplete key specs asks COMMAND GETKEYS, or passes unchanged when told to")
    func getKeysFallback() async throws {
        let long = String(repeating: "s", count: 100)
        let request = ProxyRequest("SORT", "src", "STORE", long)
        let asking = rules(spill: false)
        let asked = await asking.rewrite(request, route: nil, table: Self.table) { command throws(CacheError) in
            #expect(command == request)
            return [ByteBuffer(string: "src"), ByteBuffer(string: long)]
        }
        let (sorted, _) = try #require(forwarded(asked))
        #expect(sorted.arguments[3].readableBytes <= 64)
        #expect(asking.stats.count(.getKeysLookups) == 1)
        var passing = rules(spill: false)
        passing.incompleteKeySpecs = .pass
        let passed = await passing.rewrite(request, route: nil, table: Self.table) { _ throws(CacheError) in
            Issue.record("GETKEYS asked in pass mode")
            return []
        }
        let (unchanged, _) = try #require(forwarded(passed))
        #expect(unchanged.arguments[3] == ByteBuffer(string: long))
    }

    @Test("the client's name selects its route: a route that says onOOM: fail never sheds")
    func routeByClientName() async throws {
        let rules = ProxyRules(policies: PolicyTable(routes: ["locks": PolicyOverrides(onOOM: .fail)]))
        let oom: RESPValue = .error(ByteBuffer(string: "OOM command not allowed when used memory > 'maxmemory'."))
        let (_, named) = try #require(forwarded(await rules.rewrite(ProxyRequest("SET", "k", "v"), route: "locks", table: Self.table) { _ throws(CacheError) in [] }))
        #expect(await rules.apply(named, to: oom) == oom)
        let (_, anonymous) = try #require(forwarded(await rules.rewrite(ProxyRequest("SET", "k", "v"), route: nil, table: Self.table) { _ throws(CacheError) in [] }))
        #expect(await rules.apply(anonymous, to: oom) == .simpleString(ByteBuffer(string: "OK")))
    }

    @Test("under the script framing, overwrites, deletes and expires go upstream inside the release script; commands that answer the old value, NX writes and a spill-less proxy send them as they are")
    func releaseWrapping() async throws {
        let store = MemoryBlobStore()
        let rules = rules(store: store)
        func sent(_ request: ProxyRequest, _ rules: ProxyRules) async -> ProxyRequest? {
            guard case .forward(let command, _) = await rewrite(rules, request) else { return nil }
            return command
        }
        for request in [
            ProxyRequest("SET", "k", "v"), ProxyRequest("SETEX", "k", "9", "v"), ProxyRequest("MSET", "a", "1", "b", "2"), ProxyRequest("DEL", "a", "b"),
            ProxyRequest("UNLINK", "a"), ProxyRequest("EXPIRE", "a", "0"), ProxyRequest("PEXPIREAT", "a", "1"), ProxyRequest("GETEX", "a", "PERSIST"),
        ] {
            let command = try #require(await sent(request, rules))
            #expect(command.name == "EVAL", "\(request.name)")
            #expect(ProxyRules.releasedCommand(command) == request)
        }
        for request in [
            ProxyRequest("SET", "k", "v", "NX"), ProxyRequest("SETNX", "k", "v"), ProxyRequest("MSETNX", "a", "1"), ProxyRequest("GET", "k"),
            ProxyRequest("SET", "k", "v", "XX", "GET"), ProxyRequest("GETSET", "k", "v"), ProxyRequest("GETDEL", "a"),
        ] {
            #expect(await sent(request, rules) == request, "\(request.name)")
        }
        #expect(await sent(ProxyRequest("DEL", "a"), self.rules(spill: false)) == ProxyRequest("DEL", "a"))
        var sweeper = self.rules(store: store)
        sweeper.releasesBlobs = false
        #expect(await sent(ProxyRequest("SET", "k", "v"), sweeper) == ProxyRequest("SET", "k", "v"), "--blob-release sweeper")

        // The script reports the pointer the command replaced (-3): its blob is released; one
        // still held (a TTL after an EXPIRE) is kept; the client gets the command's own reply.
        let (set, _) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "big", String(repeating: "r", count: 3000)))))
        guard case .pointer(let pointer) = SpillEnvelope.decode(set.arguments[2]) else {
            Issue.record("not spilled")
            return
        }
        let ok = RESPValue.simpleString(ByteBuffer(string: "OK"))
        let (_, expire) = try #require(forwarded(await rewrite(rules, ProxyRequest("EXPIRE", "big", "100"))))
        #expect(rules.needsWork(expire, for: .array([.integer(1), .bulkString(set.arguments[2]), .integer(100_000)])))
        #expect(await rules.apply(expire, to: .array([.integer(1), .bulkString(set.arguments[2]), .integer(100_000)])) == .integer(1))
        #expect(await store.get(pointer.id) != nil)
        // Under another key the same pointer is foreign: never released.
        let (_, other) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "other", "x"))))
        #expect(await rules.apply(other, to: .array([ok, .bulkString(set.arguments[2]), .integer(-3)])) == ok)
        #expect(await store.get(pointer.id) != nil)
        let (_, overwrite) = try #require(forwarded(await rewrite(rules, ProxyRequest("SET", "big", "small"))))
        #expect(!rules.needsWork(overwrite, for: .array([ok])), "no key held the magic")
        #expect(rules.applyNow(overwrite, to: .array([ok])) == ok)
        #expect(await rules.apply(overwrite, to: .array([ok, .bulkString(set.arguments[2]), .integer(-3)])) == ok)
        #expect(await store.get(pointer.id) == nil)
    }
}
