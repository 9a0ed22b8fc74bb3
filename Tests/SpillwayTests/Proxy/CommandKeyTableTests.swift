import NIOCore
import SpillwayProxy
import SpillwayRedis
import Testing

/// Key specifications as Redis 7's `COMMAND` describes them (RESP2 flat arrays and RESP3 maps).
enum KeySpecFixtures {
    static func bulk(_ s: String) -> RESPValue { .bulkString(ByteBuffer(string: s)) }
    static func fields(_ pairs: [(String, RESPValue)], resp3: Bool) -> RESPValue {
        resp3
            ? .map(pairs.map { RESPMapEntry(key: bulk($0.0), value: $0.1) })
            : .array(pairs.flatMap { [bulk($0.0), $0.1] })
    }
    static func spec(_ begin: (String, [(String, RESPValue)]), _ find: (String, [(String, RESPValue)]), flags: [String] = [], resp3: Bool) -> RESPValue {
        fields(
            [
                ("flags", .array(flags.map { .simpleString(ByteBuffer(string: $0)) })),
                ("begin_search", fields([("type", bulk(begin.0)), ("spec", fields(begin.1, resp3: resp3))], resp3: resp3)),
                ("find_keys", fields([("type", bulk(find.0)), ("spec", fields(find.1, resp3: resp3))], resp3: resp3)),
            ], resp3: resp3)
    }
    static func command(_ name: String, flags: [String] = [], specs: [RESPValue], subcommands: [RESPValue] = []) -> RESPValue {
        .array([
            bulk(name), .integer(-2), .array(flags.map { .simpleString(ByteBuffer(string: $0)) }), .integer(0), .integer(0), .integer(0),
            .array([]), .array([]), .array(specs), .array(subcommands),
        ])
    }
    static func index(_ i: Int) -> (String, [(String, RESPValue)]) { ("index", [("index", .integer(Int64(i)))]) }
    static func range(_ last: Int, step: Int = 1, limit: Int = 0) -> (String, [(String, RESPValue)]) {
        ("range", [("lastkey", .integer(Int64(last))), ("keystep", .integer(Int64(step))), ("limit", .integer(Int64(limit)))])
    }

    /// GET, SET, MSET, BLPOP, EVAL, XREAD, SORT (incomplete), OBJECT ENCODING.
    static func reply(resp3: Bool) -> RESPValue {
        .array([
            command("get", specs: [spec(index(1), range(0), resp3: resp3)]),
            command("set", flags: ["write", "denyoom"], specs: [spec(index(1), range(0), resp3: resp3)]),
            command("mset", flags: ["write", "denyoom"], specs: [spec(index(1), range(-1, step: 2), resp3: resp3)]),
            command("blpop", flags: ["write", "blocking"], specs: [spec(index(1), range(-2), resp3: resp3)]),
            command(
                "eval", flags: ["movablekeys"],
                specs: [spec(index(2), ("keynum", [("keynumidx", .integer(0)), ("firstkey", .integer(1)), ("keystep", .integer(1))]), resp3: resp3)]),
            command(
                "xread", flags: ["blocking", "movablekeys"],
                specs: [spec(("keyword", [("keyword", bulk("STREAMS")), ("startfrom", .integer(1))]), range(-1, step: 1, limit: 2), resp3: resp3)]),
            command(
                "sort", flags: ["write", "movablekeys"],
                specs: [spec(index(1), range(0), resp3: resp3), spec(("unknown", []), ("unknown", []), flags: ["OW"], resp3: resp3)]),
            command("object", specs: [], subcommands: [command("object|encoding", specs: [spec(index(2), range(0), resp3: resp3)])]),
        ])
    }
}

@Suite("Proxy key specifications")
struct CommandKeyTableTests {
    func keys(_ table: CommandKeyTable, _ args: String...) -> [Int] {
        let request = ProxyRequest(args.map { ByteBuffer(string: $0) })
        guard let entry = table.entry(for: request) else { return [-1] }
        return table.keyIndices(of: request, entry: entry)
    }

    @Test("keys are found by index, range, keynum and keyword, in RESP2 and RESP3 replies", arguments: [false, true])
    func specs(resp3: Bool) {
        let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: resp3))
        #expect(table.count == 9)
        #expect(keys(table, "GET", "k") == [1])
        #expect(keys(table, "set", "k", "v", "EX", "10") == [1])
        #expect(keys(table, "MSET", "a", "1", "b", "2", "c", "3") == [1, 3, 5])
        #expect(keys(table, "BLPOP", "a", "b", "0") == [1, 2])
        #expect(keys(table, "EVAL", "return 1", "2", "k1", "k2", "arg") == [3, 4])
        #expect(keys(table, "EVAL", "return 1", "0", "arg") == [])
        #expect(keys(table, "XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0") == [4, 5])
        #expect(keys(table, "OBJECT", "ENCODING", "k") == [2])
        #expect(keys(table, "PING") == [-1])
    }

    @Test("a command with an unknown or incomplete spec needs COMMAND GETKEYS; complete ones do not")
    func incomplete() throws {
        let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: true))
        #expect(try #require(table.entry(for: ProxyRequest("SORT", "k"))).needsGetKeys)
        #expect(try !#require(table.entry(for: ProxyRequest("EVAL", "s", "0"))).needsGetKeys)
        #expect(try #require(table.entry(for: ProxyRequest("BLPOP", "k", "0"))).blocking)
        #expect(try #require(table.entry(for: ProxyRequest("SET", "k", "v"))).write)
    }

    @Test("only a single first-argument key spec takes the guard's short path")
    func onlyFirstArgument() throws {
        let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: true))
        for (request, expected) in [
            (ProxyRequest("GET", "k"), true), (ProxyRequest("SET", "k", "v"), true), (ProxyRequest("MSET", "a", "1"), false),
            (ProxyRequest("BLPOP", "a", "0"), false), (ProxyRequest("EVAL", "s", "1", "k"), false), (ProxyRequest("XREAD", "STREAMS", "s", "0"), false),
            (ProxyRequest("SORT", "k"), false), (ProxyRequest("OBJECT", "ENCODING", "k"), false),
        ] {
            #expect(try #require(table.entry(for: request)).onlyFirstArgument == expected, "\(request.name)")
        }
    }

    @Test("a key count that does not fit the arguments finds no keys, never a crash")
    func hostileCounts() {
        let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: false))
        #expect(keys(table, "EVAL", "s", "99", "k") == [3])
        #expect(keys(table, "EVAL", "s", "-1", "k") == [])
        #expect(keys(table, "EVAL", "s", "x", "k") == [])
        #expect(keys(table, "EVAL") == [])
        #expect(keys(table, "XREAD", "STREAMS") == [])
    }
}
