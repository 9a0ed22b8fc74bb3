import Testing
import Spillway
import SpillwayPolicyFile

/// `onReadFailure` in the policy file: decoded per level, emitted as Swift, validated at its line.
@Suite("Policy file: onReadFailure")
struct ReadFailurePolicyTests {
    static let text = """
        defaults:
          onReadFailure: miss
        routes:
          GET /balance: {onReadFailure: fail}
        prefixes:
          "page:": {priority: low}
        """

    @Test("decoded per level: miss by default, fail where a route says so")
    func decoded() throws {
        let file = try PolicyFile.parse(Self.text)
        #expect(file.defaults.onReadFailure == .miss)
        #expect(file.routes["GET /balance"] == PolicyOverrides(onReadFailure: .fail))
        let table = file.table
        #expect(table.resolve(route: "GET /balance", key: "page:1").onReadFailure == .fail)
        #expect(table.resolve(route: "GET /other", key: "page:1").onReadFailure == .miss)
        #expect(CachePolicy().onReadFailure == .miss, "the built-in default")
    }

    @Test("emitted as Swift literals")
    func emitted() throws {
        let source = PolicySwiftEmitter.swiftSource(for: try PolicyFile.parse(Self.text), sourceName: "spillway.yml")
        #expect(source.contains("onReadFailure: .miss, priority: .normal"))
        #expect(source.contains(#""GET /balance": PolicyOverrides(onReadFailure: .fail),"#))
    }

    @Test("a wrong value is an error at its line, with a did-you-mean")
    func wrongValue() {
        let found = PolicyFile.check(Array("defaults:\n  maxKeyBytes: 256\n  onReadFailure: mis\n".utf8)).errors
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.line == 3)
        #expect(found.first?.message.contains("onReadFailure must be one of miss, fail, not 'mis'") == true, "\(found)")
        #expect(found.first?.message.contains("did you mean 'miss'") == true, "\(found)")
    }

    @Test("a throttle whose burst × period overflows is rejected at its line")
    func throttleOverflow() {
        let found = PolicyFile.check(Array("defaults:\n  maxKeyBytes: 256\nroutes:\n  POST /x:\n    throttle: {limit: 1, period: 100000d, burst: 1000000000}\n".utf8)).errors
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.line == 5, "\(found)")
        #expect(found.first?.message.contains("burst × period overflows") == true, "\(found)")
        #expect(PolicyFile.check(Array("defaults:\n  throttle: {limit: 1, period: 1d, burst: 1000}\n".utf8)).errors.isEmpty)
    }
}
