import Foundation
import SpillwayPolicyFile
import Testing

/// `spillway-policy`, the build plugin's tool: its hand-read arguments and the check it runs
/// (shared with `spillway check-policies`).
@Suite("spillway-policy: arguments and run")
struct PolicyToolTests {
    @Test("options before or after the file, with a separate or an inline value")
    func parsesOptions() throws {
        let a = try #require(try PolicyCheckRequest.parse(arguments: ["--quiet", "--emit-swift", "out.swift", "spillway.yml"]))
        #expect(a == PolicyCheckRequest(file: "spillway.yml", emitSwift: "out.swift", quiet: true))
        let b = try #require(try PolicyCheckRequest.parse(arguments: ["p.json", "--type-name=Tables", "--warnings-as-errors", "-q"]))
        #expect(b == PolicyCheckRequest(file: "p.json", typeName: "Tables", warningsAsErrors: true, quiet: true))
        let c = try #require(try PolicyCheckRequest.parse(arguments: ["--", "--odd-name.yml"]))
        #expect(c.file == "--odd-name.yml")
        #expect(try PolicyCheckRequest.parse(arguments: ["--help"]) == nil)
    }

    @Test(
        "wrong arguments are a usage error that says what is wrong",
        arguments: [
            (["spillway.yml", "--emit-swift"], "--emit-swift needs a value"),
            (["--verbose", "spillway.yml"], "unknown option '--verbose'"),
            (["a.yml", "b.yml"], "one policy file only; got 'a.yml' and 'b.yml'"),
            ([], "missing the policy file"),
            (["--quiet=yes", "a.yml"], "--quiet takes no value"),
            (["--type-name", "1Bad", "a.yml"], "--type-name must be a Swift identifier"),
        ])
    func usageErrors(arguments: [String], message: String) {
        #expect(throws: PolicyToolUsageError(message)) { try PolicyCheckRequest.parse(arguments: arguments) }
    }

    @Test("a valid file is compiled into Swift; an invalid one exits 1 with file:line errors and writes nothing")
    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-policy-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("spillway.yml").path
        let bad = dir.appendingPathComponent("bad.yml").path
        let out = dir.appendingPathComponent("SpillwayPolicies.swift").path
        try Data("defaults:\n  maxKeyBytes: 300\nroutes:\n  POST /x: {onOOM: fail}\n".utf8).write(to: URL(fileURLWithPath: good))
        try Data("defaults:\n  maxKeyByte: 300\n".utf8).write(to: URL(fileURLWithPath: bad))

        var stdout: [String] = []
        var stderr: [String] = []
        let ok = PolicyCheckRequest(file: good, emitSwift: out).run(standardOutput: { stdout.append($0) }, standardError: { stderr.append($0) })
        #expect(ok == 0)
        #expect(stderr.isEmpty)
        #expect(stdout == ["\(good): OK: 1 route, 0 prefixes"])
        let source = try String(contentsOfFile: out, encoding: .utf8)
        #expect(source.contains("enum SpillwayPolicies {"))
        #expect(source.contains("maxKeyBytes: 300"))

        stdout = []
        let badOut = dir.appendingPathComponent("Bad.swift").path
        let failed = PolicyCheckRequest(file: bad, emitSwift: badOut, quiet: true).run(standardOutput: { stdout.append($0) }, standardError: { stderr.append($0) })
        #expect(failed == 1)
        #expect(stdout.isEmpty)
        #expect(stderr.first == "\(bad):2: error: unknown field 'maxKeyByte' in defaults; did you mean 'maxKeyBytes'?")
        #expect(stderr.last == "\(bad): 1 error, 0 warnings")
        #expect(!FileManager.default.fileExists(atPath: badOut))

        stderr = []
        let missing = PolicyCheckRequest(file: dir.appendingPathComponent("none.yml").path).run(standardOutput: { _ in }, standardError: { stderr.append($0) })
        #expect(missing == 1)
        #expect(stderr.count == 1 && stderr[0].hasSuffix("none.yml:1: error: cannot read the policy file"))
    }
}
