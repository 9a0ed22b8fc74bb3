import Testing
import NIOCore
import Spillway
import SpillwayTesting

/// One cell's world: a backend, the production chain (spill, degradation) with the fault
/// injector last, a faulty blob store over a memory one, a rate limiter, and a model of what
/// each key may hold.
struct MatrixRig: Sendable {
    typealias Chain = _CacheMiddleware2<_CacheMiddleware2<ValueSpill<FaultyBlobStore<MemoryBlobStore>>, Degrade<ManualClock>>, FaultInjector>

    static let policies = PolicyTable(
        defaults: CachePolicy(
            spillAbove: 1024, onOOM: .shed, onFailure: [.busy: .shed, .timeout: .shed, .connection: .shed]
        ))
    static let throttle = ThrottlePolicy(limit: 100, period: .seconds(1), onCacheFailure: .local)

    static let small: CacheKey = "m:present"
    static let big: CacheKey = "m:big"
    static let counter: CacheKey = "m:n"
    static let other: CacheKey = "m:other"
    static let keys = [small, big, counter, other]

    static let oldSmall = ByteBuffer(string: "old-small")
    static let newSmall = ByteBuffer(string: "new-small")
    static let newOther = ByteBuffer(string: "new-other")
    static let oldBig = ByteBuffer(bytes: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    static let newBig = ByteBuffer(bytes: (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })

    let clock = ManualClock()
    let faults: FaultInjector
    let degradeStats = DegradeStats()
    let memoryBlobs = MemoryBlobStore(name: "matrix")
    let blobs: FaultyBlobStore<MemoryBlobStore>
    let backend: AnyCacheClient
    let cache: GuardedCache<AnyCacheClient, Chain>
    let limiter: RateLimiter<GuardedCache<AnyCacheClient, Chain>, ManualClock>

    init(backend: any CacheClient) {
        let faults = FaultInjector(seed: 0x5EED, clock: clock)
        let blobs = FaultyBlobStore(memoryBlobs)
        let backend = AnyCacheClient(backend)
        let clock = self.clock
        let degradeStats = self.degradeStats
        let cache = GuardedCache(client: backend, policies: Self.policies) {
            ValueSpill(store: blobs)
            Degrade<ManualClock>(stats: degradeStats)
            faults
        }
        self.faults = faults
        self.blobs = blobs
        self.backend = backend
        self.cache = cache
        self.limiter = RateLimiter(store: cache, clock: clock)
    }

    /// The values each key may hold: the acknowledged one, plus any write whose fate the caller
    /// could not know (`nil`: absent).
    typealias Model = [CacheKey: [ByteBuffer?]]

    /// Writes the starting state, through the chain, with no faults.
    func seed() async throws -> Model {
        #expect(try await cache.set(Self.small, value: Self.oldSmall) == .stored)
        #expect(try await cache.set(Self.big, value: Self.oldBig) == .stored)
        #expect(try await cache.increment(Self.counter, by: 5) == 5)
        #expect(await memoryBlobs.count == 1, "the big value is spilled")
        return [Self.small: [Self.oldSmall], Self.big: [Self.oldBig], Self.counter: [ByteBuffer(string: "5")], Self.other: [nil]]
    }

    /// The spill pointer a key holds in the backend, if any.
    func pointer(_ key: CacheKey) async throws -> SpillPointer? {
        guard case .value(let raw?) = try await backend.execute(.get(key)), case .pointer(let p) = SpillEnvelope.decode(raw) else {
            return nil
        }
        return p
    }
}
