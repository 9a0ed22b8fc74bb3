import Hummingbird
import NIOCore
import Spillway
import SpillwayHummingbird
import SpillwayTesting
import Testing

@Suite("SpillwayPersistDriver: one-line adoption over an existing PersistDriver")
struct SpillwayPersistDriverTests {
    struct Session: Codable, Sendable, Equatable {
        var user: String
        var visits: Int
    }

    @Test("round-trips values through the guarded chain, hashing oversized keys")
    func roundTrip() async throws {
        let base = MemoryPersistDriver()
        let persist = SpillwayPersistDriver(wrapping: base, policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 64)))
        try await persist.set(key: "session:1", value: Session(user: "ada", visits: 3))
        #expect(try await persist.get(key: "session:1", as: Session.self) == Session(user: "ada", visits: 3))
        #expect(try await base.get(key: "session:1", as: [UInt8].self) != nil, "stored in the wrapped driver")

        let longKey = "session:" + String(repeating: "x", count: 500)
        try await persist.set(key: longKey, value: Session(user: "bob", visits: 1))
        #expect(try await persist.get(key: longKey, as: Session.self)?.user == "bob")
        #expect(try await base.get(key: longKey, as: [UInt8].self) == nil, "the whole long key never reached the driver")

        try await persist.create(key: "once", value: 1, expires: .seconds(60))
        await #expect(throws: PersistError.duplicate) { try await persist.create(key: "once", value: 2, expires: nil) }
        #expect(try await persist.get(key: "once", as: Int.self) == 1)
        await #expect(throws: PersistError.invalidConversion) { try await persist.get(key: "once", as: Session.self) }

        try await persist.remove(key: "session:1")
        #expect(try await persist.get(key: "session:1", as: Session.self) == nil)
    }

    @Test("under OOM a dropped set is reported (thrown, or as its outcome), its old value is gone, and create never pretends to succeed")
    func underOOM() async throws {
        let backend = OOMSwitch(MemoryCache(clock: ManualClock()), refuseWrites: false)
        let cache = GuardedCache(client: backend, policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
            KeyGuard()
            Degrade<ContinuousClock>()
        }
        let persist = SpillwayPersistDriver(cache: cache)
        try await persist.set(key: "kept", value: "before")
        try await persist.set(key: "session", value: Session(user: "ada", visits: 1))
        backend.setRefusing(true)
        do {
            try await persist.set(key: "dropped", value: "after")
            Issue.record("a dropped set claimed success")
        } catch let error as CacheError {
            #expect(error.code == .outOfMemory)
        }
        #expect(try await persist.get(key: "dropped", as: String.self) == nil)
        #expect(try await persist.get(key: "kept", as: String.self) == "before", "reads keep flowing")
        // A session update that is dropped must not roll back to the old session.
        #expect(try await persist.setReportingOutcome(key: "session", value: Session(user: "ada", visits: 2), expires: nil) == .dropped(.outOfMemory))
        #expect(try await persist.get(key: "session", as: Session.self) == nil, "the old session is not readable after a dropped update")
        await #expect(throws: CacheError.self) { try await persist.create(key: "lock", value: "me", expires: .seconds(5)) }
    }
}
