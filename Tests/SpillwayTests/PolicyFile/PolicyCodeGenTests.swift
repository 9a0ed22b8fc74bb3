import Foundation
import Testing
import Spillway
import SpillwayPolicyFile

@Suite("Policy file loading and code generation")
struct PolicyCodeGenTests {
    static let text = """
        defaults:
          maxKeyBytes: 300
          maxTTL: 1h
          onFailure: {timeout: shed}
        routes:
          POST /orders/upload: {spillAbove: 64KiB, throttle: {limit: 5, period: 1s, localShare: 0.25}}
        prefixes:
          "lock:": {onOOM: fail, spillAbove: off}
          "weird\\"\\\\": {priority: high}
        """

    @Test("the generated Swift spells every field as literals, sorted and escaped")
    func emit() throws {
        let file = try PolicyFile.parse(Self.text)
        let source = PolicySwiftEmitter.swiftSource(for: file, sourceName: "spillway.yml")
        #expect(source.contains("import Spillway\n"))
        #expect(source.contains("enum SpillwayPolicies {"))
        #expect(source.contains("defaults: CachePolicy(maxKeyBytes: 300, keyOverflow: .hash, spillAbove: 524288, maxValueBytes: 67108864, requireTTL: false, maxTTL: .milliseconds(3600000), onOOM: .shed, onFailure: [.timeout: .shed], onReadFailure: .miss, priority: .normal, throttle: nil)"))
        #expect(source.contains(#""POST /orders/upload": PolicyOverrides(spillAbove: .some(65536), throttle: ThrottlePolicy(limit: 5, period: .milliseconds(1000), burst: nil, onCacheFailure: .local, localShare: 0.25)),"#))
        #expect(source.contains(#""lock:": PolicyOverrides(spillAbove: .some(nil), onOOM: .fail),"#))
        #expect(source.contains(#""weird\"\\": PolicyOverrides(priority: .high),"#))
        #expect(source == PolicySwiftEmitter.swiftSource(for: file, sourceName: "spillway.yml"), "output is deterministic")
    }

    @Test("the runtime loader applies the same validation and names the path")
    func loader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("spillway.yml").path
        try Data(Self.text.utf8).write(to: URL(fileURLWithPath: good))
        let table = try PolicyFileLoader.load(path: good).table
        #expect(table.resolve(route: "POST /orders/upload", key: "lock:1").onOOM == .fail)
        #expect(table.resolve(route: "POST /orders/upload", key: "x").spillAbove == 64 * 1024)

        let bad = dir.appendingPathComponent("bad.json").path
        try Data(#"{"defaults": {"maxKeyBytes": 10,"#.utf8).write(to: URL(fileURLWithPath: bad))
        #expect {
            try PolicyFileLoader.load(path: bad)
        } throws: { error in
            let text = (error as? PolicyFileError)?.description ?? ""
            return text.hasPrefix("\(bad):1: error: ")
        }
        #expect {
            try PolicyFileLoader.load(path: dir.appendingPathComponent("missing.yml").path)
        } throws: { error in
            (error as? PolicyFileError)?.description.contains("cannot read the policy file") == true
        }
    }
}
