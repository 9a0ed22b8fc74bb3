import Testing
import Spillway
import SpillwayPolicyFile

@Suite("Policy file validation")
struct PolicyValidationTests {
    private func errors(_ text: String) -> [PolicyDiagnostic] {
        PolicyFile.check(Array(text.utf8)).errors
    }

    @Test("a full file decodes every field")
    func fullFile() throws {
        let text = """
            version: 1
            defaults:
              maxKeyBytes: 512
              keyOverflow: hash
              spillAbove: 256KiB
              maxValueBytes: 8MiB
              requireTTL: true
              maxTTL: 1d
              onOOM: shed
              onFailure: {timeout: shed, connection: fallback, busy: fail}
              priority: normal
            routes:
              POST /orders/upload:
                spillAbove: 64KiB
                priority: low
                throttle:
                  limit: 100
                  period: 1m
                  burst: 20
                  onCacheFailure: deny
                  localShare: 0.25
              job:resize:
                keyOverflow: reject
                maxTTL: 90s
            prefixes:
              "lock:":
                onOOM: fail
                spillAbove: off
              "session:": {maxTTL: 30m, requireTTL: false}
            """
        let file = try PolicyFile.parse(text)
        #expect(
            file.defaults
                == CachePolicy(
                    maxKeyBytes: 512, keyOverflow: .hash, spillAbove: 256 * 1024, maxValueBytes: 8 << 20, requireTTL: true,
                    maxTTL: .seconds(86_400), onOOM: .shed, onFailure: [.timeout: .shed, .connection: .fallback, .busy: .fail], priority: .normal
                ))
        #expect(
            file.routes["POST /orders/upload"]
                == PolicyOverrides(
                    spillAbove: .some(64 * 1024), priority: .low,
                    throttle: ThrottlePolicy(limit: 100, period: .seconds(60), burst: 20, onCacheFailure: .deny, localShare: 0.25)
                ))
        #expect(file.routes["job:resize"] == PolicyOverrides(keyOverflow: .reject, maxTTL: .seconds(90)))
        #expect(file.prefixes["lock:"] == PolicyOverrides(spillAbove: .some(nil), onOOM: .fail))
        #expect(file.prefixes["session:"] == PolicyOverrides(requireTTL: false, maxTTL: .seconds(1800)))
    }

    @Test("the three levels resolve: defaults, then route, then the longest key prefix")
    func resolution() throws {
        let text = """
            defaults: {onOOM: shed, priority: normal, maxKeyBytes: 256}
            routes:
              POST /orders/upload: {onOOM: fallback, priority: low}
            prefixes:
              "lock:": {onOOM: fail}
              "lock:order:": {maxKeyBytes: 128}
            """
        let table = try PolicyFile.parse(text).table
        let plain = table.resolve(route: nil, key: "x")
        #expect(plain.onOOM == .shed && plain.priority == .normal && plain.maxKeyBytes == 256)
        let upload = table.resolve(route: "POST /orders/upload", key: "blob:1")
        #expect(upload.onOOM == .fallback && upload.priority == .low)
        let lockInUpload = table.resolve(route: "POST /orders/upload", key: "lock:42")
        #expect(lockInUpload.onOOM == .fail && lockInUpload.priority == .low)
        let orderLock = table.resolve(route: "POST /orders/upload", key: "lock:order:42")
        #expect(orderLock.maxKeyBytes == 128)
        #expect(orderLock.onOOM == .fail, "'lock:order:' inherits onOOM from 'lock:', the shorter prefix it extends")
        #expect(table.resolve(route: "GET /unknown", key: "lock:1").onOOM == .fail)
    }

    @Test("every error in the file is reported, each at its line")
    func allErrors() {
        let text = """
            defaults:
              maxKeyByte: 256
              keyOverflow: hashed
              spillAbove: 16kib
              maxTTL: 60
              requireTTL: yes
              onFailure: {timeot: shed, outOfMemory: fail}
            routes:
              post /orders: {priority: urgent}
              job:resize:
                throttle: {limit: 0, period: 0s, localShare: 1.5, brust: 3}
            prefixes:
              "img:": {maxKeyBytes: 32}
            unknown: 1
            """
        let found = errors(text)
        let byLine = Dictionary(grouping: found, by: \.line).mapValues { $0.map(\.message) }
        #expect(byLine[2]?.first?.contains("unknown field 'maxKeyByte' in defaults; did you mean 'maxKeyBytes'?") == true)
        #expect(byLine[3]?.first?.contains("keyOverflow must be one of reject, hash, not 'hashed'; did you mean 'hash'?") == true)
        #expect(byLine[4]?.first?.contains("unknown size unit 'kib'") == true)
        #expect(byLine[5]?.first?.contains("needs a unit") == true)
        #expect(byLine[6]?.first?.contains("did you mean 'true'?") == true)
        #expect(byLine[7]?.contains { $0.contains("unknown failure class 'timeot'") && $0.contains("did you mean 'timeout'?") } == true)
        #expect(byLine[7]?.contains { $0.contains("onOOM") } == true)
        #expect(byLine[9]?.first?.contains("write the HTTP method in capitals: 'POST /orders'") == true)
        let throttle = byLine[11] ?? []
        #expect(throttle.contains { $0.contains("throttle.limit must be at least 1") })
        #expect(throttle.contains { $0.contains("throttle.period must be longer than zero") })
        #expect(throttle.contains { $0.contains("localShare must be greater than 0 and at most 1") })
        #expect(throttle.contains { $0.contains("'brust'") && $0.contains("did you mean 'burst'?") })
        #expect(byLine[13]?.first?.contains("maxKeyBytes 32 is below 48") == true)
        #expect(byLine[14]?.first?.contains("unknown section 'unknown'") == true)
        #expect(found.count == 14)
        #expect(found.allSatisfy { $0.severity == .error })
    }

    @Test("spillAbove ≥ maxValueBytes is a contradiction, also when a route and a prefix combine")
    func contradictions() {
        let own = errors(
            """
            defaults:
              spillAbove: 1MiB
              maxValueBytes: 1MiB
            """)
        #expect(own.map(\.line) == [3])
        #expect(own.first?.message.contains("spillAbove 1MiB (defaults, line 2) is not below maxValueBytes 1MiB (defaults, line 3)") == true)

        let combined = errors(
            """
            defaults:
              maxValueBytes: 8MiB
            routes:
              POST /upload:
                spillAbove: 4MiB
            prefixes:
              "small:":
                maxValueBytes: 2MiB
              "tiny:":
                maxValueBytes: 1MiB
            """)
        #expect(combined.map(\.line) == [8, 10])
        // A longer prefix inherits the shorter one's spillAbove.
        let nested = errors(
            """
            prefixes:
              "img:": {spillAbove: 2MiB}
              "img:thumb:": {maxValueBytes: 1MiB}
            """)
        #expect(nested.map(\.line) == [3])
        #expect(nested.first?.message.contains("spillAbove 2MiB (prefix 'img:', line 2) is not below maxValueBytes 1MiB (prefix 'img:thumb:', line 3)") == true)
        #expect(combined.first?.message.contains("when route 'POST /upload' writes a key under prefix 'small:'") == true)

        let againstBuiltIn = errors("defaults:\n  maxValueBytes: 100KiB\n")
        #expect(againstBuiltIn.first?.message.contains("spillAbove 512KiB (built-in default)") == true)
        #expect(errors("defaults:\n  maxValueBytes: 100KiB\n  spillAbove: off\n").isEmpty)
    }

    @Test(
        "a negative or zero limit and wrong types are errors",
        arguments: [
            ("defaults: {maxValueBytes: 0}", "maxValueBytes must be a positive size"),
            ("defaults: {spillAbove: 0}", "spillAbove must be a positive size"),
            ("defaults: {maxValueBytes: -5}", "cannot be negative"),
            ("defaults: {maxTTL: 0s}", "maxTTL must be longer than zero"),
            ("defaults: {throttle: {limit: -3, period: 1s}}", "throttle.limit must be at least 1"),
            ("defaults: {throttle: {limit: 3}}", "needs a 'period'"),
            ("defaults: {throttle: 5}", "throttle must be a mapping"),
            ("defaults: {requireTTL: \"true\"}", "requireTTL must be true or false, not the string \"true\""),
            ("defaults: {onFailure: shed}", "onFailure must be a mapping"),
            ("defaults: [1, 2]", "defaults must be a mapping"),
            ("routes: {\"GET /x\": {maxTTL: none}}", "cannot remove maxTTL"),
            ("routes: {\"FETCH /x\": {}}", "unknown HTTP method 'FETCH'"),
            ("routes: {\"job:\": {}}", "needs a name"),
            ("routes: {\"/orders\": {}}", "must be an HTTP method and a path"),
            ("prefixes: {\"\": {onOOM: fail}}", "cannot be empty"),
            ("maxKeyBytes: 256", "put it under 'defaults:'"),
            ("version: 2", "the only version is 1"),
            ("", "the policy file is empty"),
            ("just text", "expected ':' after the key"),
            ("[1, 2]", "the policy file must be a mapping"),
        ])
    func singleErrors(text: String, expected: String) {
        let found = errors(text)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains(expected) == true, "\(found)")
    }

    @Test("empty sections are warnings, not errors")
    func warnings() throws {
        let result = PolicyFile.check(Array("defaults:\nroutes:\n  GET /health:\n".utf8))
        #expect(result.errors.isEmpty)
        #expect(result.warnings.map(\.line) == [1, 3])
        #expect(result.file != nil)
    }

    @Test("parse throws PolicyFileError rendering file:line: error: message")
    func rendered() {
        #expect {
            try PolicyFile.parse("defaults:\n  maxKeyBytes: 8\n", file: "app/spillway.yml")
        } throws: { error in
            (error as? PolicyFileError)?.description.hasPrefix("app/spillway.yml:2: error: maxKeyBytes 8 is below 48") == true
        }
    }
}
