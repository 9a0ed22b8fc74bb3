import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// The example of docs/FAULTS-USAGE.md, verbatim, so the README's snippet always compiles and passes.
@Test func checkoutSurvivesAFullRedis() async throws {
    let clock = ManualClock()
    let faults = FaultInjector(seed: 42, clock: clock)
    faults.inject(.outOfMemory, on: .writes)  // every write: Redis's exact -OOM
    let cache = GuardedCache(
        client: MemoryCache(clock: clock),
        policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))
    ) {
        Degrade<ManualClock>()  // your production chain…
        faults  // …with the injector last
    }
    #expect(try await cache.set("cart:42", value: ByteBuffer(string: "3 items")) == .dropped(.outOfMemory))
    #expect(faults.log.map(\.operation) == [.set])
}
