import Spillway
import Testing

@Suite("Policy resolution")
struct PolicyTableTests {
    let table = PolicyTable(
        defaults: CachePolicy(maxKeyBytes: 256, onOOM: .shed),
        routes: ["POST /orders/upload": PolicyOverrides(maxKeyBytes: 128, onOOM: .fallback, priority: .low)],
        prefixes: [
            "lock:": PolicyOverrides(onOOM: .fail),
            "lock:payments:": PolicyOverrides(keyOverflow: .reject),
        ]
    )

    @Test("defaults, then route, then the longest key prefix")
    func layering() {
        let d = table.resolve(route: nil, key: "session:1")
        #expect(d.maxKeyBytes == 256 && d.onOOM == .shed && d.priority == .normal)
        let r = table.resolve(route: "POST /orders/upload", key: "upload:1")
        #expect(r.maxKeyBytes == 128 && r.onOOM == .fallback && r.priority == .low)
        let rp = table.resolve(route: "POST /orders/upload", key: "lock:order-9")
        #expect(rp.maxKeyBytes == 128 && rp.onOOM == .fail && rp.priority == .low)
        let longest = table.resolve(route: nil, key: "lock:payments:7")
        #expect(longest.onOOM == .fail && longest.keyOverflow == .reject)
        let unknownRoute = table.resolve(route: "GET /nope", key: "x")
        #expect(unknownRoute == table.defaults)
    }

    @Test("onFailure merges per class; onOOM answers outOfMemory")
    func failureActions() {
        let t = PolicyTable(
            defaults: CachePolicy(onFailure: [.timeout: .shed]),
            routes: ["r": PolicyOverrides(onOOM: .fallback, onFailure: [.busy: .fail])]
        )
        let p = t.resolve(route: "r", key: nil)
        #expect(p.action(for: .outOfMemory) == .fallback)
        #expect(p.action(for: .timeout) == .shed)
        #expect(p.action(for: .busy) == .fail)
        #expect(p.action(for: .connection) == nil)
    }

    @Test("out-of-memory is answered by onOOM alone: onFailure has no key for it")
    func oomHasOneField() {
        #expect(OtherFailureClass(.outOfMemory) == nil)
        #expect(!OtherFailureClass.allCases.map(\.rawValue).contains(FailureClass.outOfMemory.rawValue))
        for failure in FailureClass.allCases where failure != .outOfMemory {
            #expect(OtherFailureClass(failure)?.rawValue == failure.rawValue)
        }
        var everyOther: [OtherFailureClass: DegradeAction] = [:]
        for c in OtherFailureClass.allCases { everyOther[c] = .shed }
        let p = CachePolicy(onOOM: .fail, onFailure: everyOther)
        #expect(p.action(for: .outOfMemory) == .fail)
        #expect(p.action(for: .timeout) == .shed)
    }
}
