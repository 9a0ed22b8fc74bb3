import Spillway
import SpillwayPolicyFile

/// libFuzzer entry point: parses and validates arbitrary bytes as a policy file, then checks
/// invariants that must hold for any input:
/// - every diagnostic has a line inside the file;
/// - a file without errors yields policies, and its generated Swift is deterministic;
/// - a valid file's table resolves without trapping, and its policies satisfy the validated
///   limits (maxKeyBytes ≥ the minimum, spillAbove < maxValueBytes, positive TTLs and throttles).
@_cdecl("LLVMFuzzerTestOneInput")
public func policyFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let result = PolicyFile.check(bytes)
    let lines = 1 + bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    for d in result.diagnostics {
        precondition(d.line >= 1 && d.line <= lines, "diagnostic outside the file: \(d)")
        precondition(!d.message.isEmpty)
    }
    precondition((result.file != nil) == result.errors.isEmpty)
    guard let file = result.file else { return 0 }
    let table = file.table
    var policies = [table.defaults] + file.routes.values.map { $0.applied(to: table.defaults) }
    for route in [nil] + Array(file.routes.keys) {
        for prefix in file.prefixes.keys {
            policies.append(table.resolve(route: route, key: CacheKey(prefix + "k")))
        }
    }
    for p in policies {
        precondition(p.maxKeyBytes >= CachePolicy.minimumMaxKeyBytes, "maxKeyBytes below the minimum passed validation")
        precondition(p.maxValueBytes > 0)
        if let spill = p.spillAbove { precondition(spill > 0 && spill < p.maxValueBytes, "spillAbove ≥ maxValueBytes passed validation") }
        if let ttl = p.maxTTL { precondition(ttl > .zero) }
        if let t = p.throttle { precondition(t.limit > 0 && t.period > .zero && t.localShare > 0 && t.localShare <= 1) }
    }
    let a = PolicySwiftEmitter.swiftSource(for: file, sourceName: "fuzz.yml")
    let b = PolicySwiftEmitter.swiftSource(for: file, sourceName: "fuzz.yml")
    precondition(a == b)
    return 0
}
