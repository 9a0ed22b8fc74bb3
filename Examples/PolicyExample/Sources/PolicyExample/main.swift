import Spillway

// `SpillwayPolicies` is generated at build time from spillway.yml by SpillwayPolicyPlugin:
// nothing is parsed when the app starts.
let table = SpillwayPolicies.table
print("policies compiled from \(SpillwayPolicies.source): \(table.routes.count) routes, \(table.prefixes.count) prefixes")

let samples: [(route: String?, key: String)] = [
    (nil, "user:42"),
    ("POST /orders/upload", "upload:9f2c"),
    ("POST /orders/upload", "lock:order:7"),
    ("GET /reports", "report:2026-11"),
    ("job:resize", "thumb:123"),
]
for sample in samples {
    let p = table.resolve(route: sample.route, key: CacheKey(sample.key))
    let spill = p.spillAbove.map { "\($0)" } ?? "off"
    let throttle = p.throttle.map { "\($0.limit)/\($0.period)" } ?? "none"
    print("\(sample.route ?? "(no route)") \(sample.key): maxKeyBytes=\(p.maxKeyBytes) keyOverflow=\(p.keyOverflow) spillAbove=\(spill) onOOM=\(p.onOOM) priority=\(p.priority) throttle=\(throttle)")
}

// A payload-sized key on the reports route is hashed down to the route's 128-byte limit.
let longKey = CacheKey("report:" + String(repeating: "customer=acme&range=2026-01-01..2026-11-26&", count: 10))
let policy = table.resolve(route: "GET /reports", key: longKey)
let context = CacheContext(route: "GET /reports", policy: policy, policies: table)
do {
    let stored = try KeyGuard().guarded(longKey, policy, context)
    print("a \(longKey.count)-byte key is stored as \(stored.count) bytes: \(stored.string)")
} catch {
    print("key refused: \(error)")
}
