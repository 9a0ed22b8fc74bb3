import Testing
import SpillwayPolicyFile

@Suite("Policy file syntax")
struct PolicyParserTests {
    private func mapping(_ node: PolicyNode?) throws -> [PolicyMappingEntry] {
        guard case .mapping(let entries) = try #require(node).kind else {
            Issue.record("expected a mapping")
            return []
        }
        return entries
    }

    @Test("block mappings nest by indentation and keep line numbers")
    func blockMapping() throws {
        let text = """
            # comment
            defaults:
              maxKeyBytes: 16KiB   # trailing comment

            routes:
              POST /orders/upload:
                onOOM: shed
              "job:resize": {priority: low, throttle: {limit: 10, period: 1m}}
            """
        let result = PolicyParser.parse(text)
        #expect(result.diagnostics.isEmpty)
        let top = try mapping(result.root)
        #expect(top.map(\.key) == ["defaults", "routes"])
        #expect(top[0].keyLocation.line == 2)
        let defaults = try mapping(top[0].value)
        #expect(defaults[0].key == "maxKeyBytes")
        #expect(defaults[0].value.kind == .scalar("16KiB", .plain))
        #expect(defaults[0].value.location == SourceLocation(line: 3, column: 16))
        let routes = try mapping(top[1].value)
        #expect(routes.map(\.key) == ["POST /orders/upload", "job:resize"])
        #expect(routes[1].keyLocation.line == 8)
        let resize = try mapping(routes[1].value)
        #expect(resize.map(\.key) == ["priority", "throttle"])
        let throttle = try mapping(resize[1].value)
        #expect(throttle.map(\.key) == ["limit", "period"])
        #expect(throttle[1].value.kind == .scalar("1m", .plain))
    }

    @Test("a JSON document parses as one flow mapping, with lines")
    func json() throws {
        let text = """
            {
              "defaults": {"maxKeyBytes": 512, "requireTTL": true},
              "prefixes": {
                "lock:": {"onOOM": "fail"}
              }
            }
            """
        let result = PolicyParser.parse(text)
        #expect(result.diagnostics.isEmpty)
        let top = try mapping(result.root)
        #expect(top.map(\.key) == ["defaults", "prefixes"])
        let defaults = try mapping(top[0].value)
        #expect(defaults[1].value.kind == .scalar("true", .plain))
        let prefixes = try mapping(top[1].value)
        #expect(prefixes[0].key == "lock:")
        #expect(prefixes[0].keyLocation.line == 4)
        let lock = try mapping(prefixes[0].value)
        #expect(lock[0].value.kind == .scalar("fail", .quoted))
    }

    @Test("quoted scalars resolve escapes; plain keys may contain ':' not followed by a space")
    func scalars() throws {
        let text = #"""
            a: "tab\there \"q\" \u00e9"
            b: 'it''s'
            job:resize: x
            lock:: y
            """#
        let result = PolicyParser.parse(text)
        #expect(result.diagnostics.isEmpty)
        let top = try mapping(result.root)
        #expect(top.map(\.key) == ["a", "b", "job:resize", "lock:"])
        #expect(top[0].value.kind == .scalar("tab\there \"q\" é", .quoted))
        #expect(top[1].value.kind == .scalar("it's", .quoted))
    }

    @Test("every syntax error is reported at its line, and parsing goes on")
    func errorsAtLines() {
        let text = """
            defaults:
            \tmaxKeyBytes: 1
              keyOverflow hash
              priority: &anchor low
              onOOM: shed
              onOOM: fail
              - item
              maxTTL: "unterminated
              requireTTL: a: b
            """
        let result = PolicyParser.parse(text)
        let lines = result.diagnostics.map(\.line)
        #expect(lines == [2, 3, 4, 6, 7, 8, 9])
        #expect(result.diagnostics[0].message.contains("tab"))
        #expect(result.diagnostics[1].message.contains("expected ':'"))
        #expect(result.diagnostics[2].message.contains("anchors"))
        #expect(result.diagnostics[3].message.contains("duplicate key 'onOOM' (first written at line 5)"))
        #expect(result.diagnostics[4].message.contains("lists"))
        #expect(result.diagnostics[5].message.contains("unterminated string"))
        #expect(result.diagnostics[6].message.contains("quote it"))
    }

    @Test("bad indentation is reported once, with the lines under it skipped")
    func indentation() {
        let text = """
            defaults:
              maxKeyBytes: 256
                keyOverflow: hash
                  deeper: 1
              requireTTL: true
            """
        let result = PolicyParser.parse(text)
        #expect(result.diagnostics.map(\.line) == [3])
        #expect(result.diagnostics[0].message.contains("unexpected indentation"))
    }

    @Test("invalid UTF-8, control characters, a second document and deep nesting are errors, not crashes")
    func hostileInput() {
        let badUTF8: [UInt8] = Array("a: 1\nb: ".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        #expect(PolicyParser.parse(badUTF8).diagnostics.map(\.line) == [2])
        #expect(PolicyParser.parse("a: 1\u{07}\n").diagnostics.first?.message.contains("control character") == true)
        #expect(PolicyParser.parse("a: 1\n---\nb: 2\n").diagnostics.first?.message.contains("one document") == true)
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(PolicyParser.parse("a: " + deep).diagnostics.first?.message.contains("nesting") == true)
        let deepJSON = String(repeating: "{\"a\":", count: 200) + "1" + String(repeating: "}", count: 200)
        #expect(PolicyParser.parse(deepJSON).diagnostics.first?.message.contains("nesting") == true)
    }

    @Test("a broken multi-line flow collection stops at its first error")
    func brokenJSON() {
        let text = """
            {
              "defaults": {"maxKeyBytes": 512
              "routes": {}
            }
            """
        let result = PolicyParser.parse(text)
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics.first?.line == 3)
        #expect(result.diagnostics.first?.message.contains("expected ',' or '}'") == true)
    }
}
