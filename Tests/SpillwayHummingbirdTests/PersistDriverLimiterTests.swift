import Hummingbird
import Logging
import NIOCore
import Spillway
import SpillwayHummingbird
import SpillwayTesting
import Synchronization
import Testing

/// The rate limiter over a Hummingbird `PersistDriver`: wall-clock times shared by every process,
/// a warning because its step is not atomic, and a persist `set` that cannot bypass requireTTL.
@Suite("SpillwayHummingbird: the limiter and requireTTL over a PersistDriver")
struct PersistDriverLimiterTests {
    static let start: Int64 = 1_800_000_000_000_000_000

    @Test("two processes started ten minutes apart agree on one client's limit (1 per minute)")
    func processesAgree() async throws {
        let shared = MemoryPersistDriver()
        let limit = GCRAParameters(limit: 1, period: .seconds(60), burst: 1)
        // Process B started at `start` and has run ten minutes; process A starts now.
        let clockB = ManualClock()
        let b = GuardedCache(client: PersistDriverClient(shared, clock: clockB, epochNanoseconds: Self.start)) { LimitsGuard() }
        clockB.advance(by: .seconds(600))
        let clockA = ManualClock()
        let a = GuardedCache(client: PersistDriverClient(shared, clock: clockA, epochNanoseconds: Self.start + 600 * 1_000_000_000)) { LimitsGuard() }

        #expect(try await a.throttle("rl:login:ada", limit).allowed)
        let second = try await b.throttle("rl:login:ada", limit)
        #expect(second.allowed == false, "the same client, the same wall time, in another process: over the limit")
        #expect(second.retryAfter > .seconds(59))
        clockB.advance(by: .seconds(60))
        #expect(try await b.throttle("rl:login:ada", limit).allowed, "a minute later it passes")
    }

    @Test("a limiter over a PersistDriver says it is not atomic, and warns once at creation")
    func warnsNotAtomic() async throws {
        let records = Records()
        let logger = Logger(label: "test") { _ in RecordingHandler(records: records) }
        let persist = GuardedCache(client: PersistDriverClient(MemoryPersistDriver())) { LimitsGuard() }
        let limiter = RateLimiter(store: persist, logger: logger)
        #expect(limiter.isAtomic == false)
        #expect(records.all.filter { $0.contains("cannot run a GCRA step atomically") }.count == 1)

        let memory = RateLimiter(store: GuardedCache(client: MemoryCache(clock: ManualClock())) { LimitsGuard() }, logger: logger)
        #expect(memory.isAtomic)
        #expect(records.all.count == 1, "no warning for an atomic backend")
    }

    @Test("persist set(expires: nil) cannot bypass requireTTL")
    func requireTTL() async throws {
        let base = MemoryPersistDriver()
        let persist = SpillwayPersistDriver(wrapping: base, policies: PolicyTable(defaults: CachePolicy(requireTTL: true)))
        await #expect(throws: CacheError.self) { try await persist.set(key: "session:1", value: "v", expires: nil) }
        #expect(try await base.get(key: "session:1", as: [UInt8].self) == nil)
        try await persist.set(key: "session:1", value: "v", expires: .seconds(60))
        #expect(try await persist.get(key: "session:1", as: String.self) == "v")
    }

    @Test("RateLimit headers never trap on a huge duration")
    func headersSaturate() {
        #expect(RateLimitHeaders.seconds(.seconds(Int64.max)) == Int(Int64.max / 1_000_000_000) + 1)
        #expect(RateLimitHeaders.seconds(.milliseconds(1200)) == 2)
        #expect(RateLimitHeaders.seconds(.zero) == 0)
    }
}

/// Log messages kept for assertions.
final class Records: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

/// A log handler that keeps every message, for asserting on warnings.
struct RecordingHandler: LogHandler {
    let records: Records
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.append("\(event.level): \(event.message)")
    }
}
