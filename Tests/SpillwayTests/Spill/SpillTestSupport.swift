import NIOCore
import Metrics
import Spillway
import SpillwayTesting
import Synchronization

/// A metrics factory that keeps counter totals in memory, so tests assert on metrics without
/// bootstrapping the global metrics system.
final class SpillTestMetrics: MetricsFactory, Sendable {
    private let totals = Mutex<[String: Int64]>([:])

    /// The total of a counter, summed over all dimensions.
    func total(_ label: String) -> Int64 {
        totals.withLock { t in t.filter { $0.key == label || $0.key.hasPrefix(label + "{") }.values.reduce(0, +) }
    }

    func add(_ name: String, _ amount: Int64) { totals.withLock { $0[name, default: 0] += amount } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(name: dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0)=\($1)" }.joined(separator: ",") + "}", owner: self)
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { Ignored() }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Ignored() }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Ignored() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, Sendable {
        let name: String
        let owner: SpillTestMetrics
        init(name: String, owner: SpillTestMetrics) {
            self.name = name
            self.owner = owner
        }
        func increment(by amount: Int64) { owner.add(name, amount) }
        func reset() {}
    }

    final class Ignored: FloatingPointCounterHandler, RecorderHandler, TimerHandler, Sendable {
        func increment(by: Double) {}
        func reset() {}
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }
}

/// A client of any kind behind a concrete type (the facade is generic over its client), with
/// optionally overridden capabilities, that logs every operation reaching the backend.
struct SpillTestClient: CacheClient {
    let base: any CacheClient
    let capabilities: CacheCapabilities
    /// The operations executed, in order (see ``SpillTestClient/describe(_:)``).
    let log = OperationLog()

    /// How the spill finds an old value: the backend's own way, or a narrower one.
    enum PreviousMode: String, CaseIterable, CustomStringConvertible, Sendable {
        /// Only the old value's head, atomically with the write (`returnsPreviousHead`).
        case head
        /// `SET … GET`: the whole old value, atomically (`atomicSetReturningPrevious` only).
        case setGet
        /// Neither: the old value is read first.
        case readFirst
        var description: String { rawValue }
    }

    /// Wraps `base`; with a `mode`, the capabilities are narrowed to it.
    init(_ base: any CacheClient, mode: PreviousMode? = nil) {
        self.base = base
        var caps = base.capabilities
        if let mode {
            caps.returnsPreviousHead = caps.returnsPreviousHead && mode == .head
            caps.atomicSetReturningPrevious = caps.atomicSetReturningPrevious && mode != .readFirst
        }
        self.capabilities = caps
    }

    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        log.append(Self.describe(operation))
        return try await base.execute(operation)
    }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { try await base.memoryStats() }

    /// An operation's name, telling apart the variants that matter to round trips.
    static func describe(_ operation: CacheOperation) -> String {
        switch operation {
        case .set(_, _, let options):
            if options.returnPrevious { return options.previousHeadBytes == nil ? "set+get" : "set+head" }
            return "set"
        case .deleteReturningHead: return "delete+head"
        case .expireReturningHead: return "expire+head"
        case .msetReturningHeads: return "mset+head"
        default: return operation.name
        }
    }
}

/// The operations a ``SpillTestClient`` executed.
final class OperationLog: Sendable {
    private let entries = Mutex<[String]>([])
    /// Everything so far, in order.
    var all: [String] { entries.withLock { $0 } }
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    func clear() { entries.withLock { $0.removeAll() } }
}

/// Deterministic test bytes of a given size.
func spillBytes(_ count: Int, seed: UInt8 = 7) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count)
    var x = UInt32(seed) &* 2_654_435_761 | 1
    for _ in 0..<count {
        x ^= x << 13
        x ^= x >> 17
        x ^= x << 5
        buffer.writeInteger(UInt8(truncatingIfNeeded: x))
    }
    return buffer
}

/// A policy table whose defaults spill above `threshold` bytes.
func spillPolicies(threshold: Int = 1024, maxValueBytes: Int = 8 << 20) -> PolicyTable {
    PolicyTable(defaults: CachePolicy(spillAbove: threshold, maxValueBytes: maxValueBytes))
}

/// The wall-clock origin used with manual clocks in these tests.
let spillOrigin = BlobTimestamp(millisecondsSince1970: 1_800_000_000_000)

/// Reads a key straight from the backend, bypassing the chain.
func rawValue(_ client: some CacheClient, _ key: CacheKey) async throws(CacheError) -> ByteBuffer? {
    guard case .value(let v) = try await client.execute(.get(key)) else { return nil }
    return v
}
