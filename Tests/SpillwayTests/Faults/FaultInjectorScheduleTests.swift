import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("FaultInjector: schedules, scopes and the log")
struct FaultInjectorScheduleTests {
    /// Runs `n` gets and returns the 1-based numbers of the ones that failed.
    private func failingCalls(_ f: FaultedMemory, _ n: Int, key: CacheKey = "k", route: String? = nil) async -> [Int] {
        var failed: [Int] = []
        for i in 1...n where await cacheError({ () async throws(CacheError) in try await f.cache.get(key, route: route) }) != nil {
            failed.append(i)
        }
        return failed
    }

    @Test("every nth call")
    func everyNth() async {
        let f = FaultedMemory()
        f.faults.inject(.busy, schedule: .everyNth(3))
        #expect(await failingCalls(f, 10) == [3, 6, 9])
        #expect(f.faults.log.map(\.call) == [3, 6, 9])
    }

    @Test("probability p from a seed: the same seed gives the same calls, another seed others")
    func probability() async {
        func run(seed: UInt64, p: Double) async -> [Int] {
            let f = FaultedMemory(seed: seed)
            f.faults.inject(.busy, schedule: .probability(p))
            return await failingCalls(f, 200)
        }
        let a = await run(seed: 42, p: 0.25)
        #expect(a == (await run(seed: 42, p: 0.25)))
        #expect(a != (await run(seed: 43, p: 0.25)))
        #expect((30...70).contains(a.count), "about a quarter of 200, got \(a.count)")
        #expect(await run(seed: 42, p: 0).isEmpty)
        #expect(await run(seed: 42, p: 1).count == 200)
    }

    @Test("a rule's draws do not change when other rules draw too")
    func independentStreams() async {
        let alone = FaultedMemory(seed: 9)
        alone.faults.inject(.busy, on: .only(.get), schedule: .probability(0.5))
        let withOther = FaultedMemory(seed: 9)
        withOther.faults.inject(.busy, on: .only(.get), schedule: .probability(0.5))
        withOther.faults.inject(.latency(.zero), on: .only(.get), schedule: .probability(0.5))
        #expect(await failingCalls(alone, 64) == failingCalls(withOther, 64))
    }

    @Test("within a time window on the test's clock")
    func window() async {
        let f = FaultedMemory()
        f.faults.inject(.loading, schedule: .window(from: .seconds(10), until: .seconds(20)))
        #expect(await failingCalls(f, 2).isEmpty)
        f.clock.advance(by: .seconds(10))
        #expect(await failingCalls(f, 2) == [1, 2])
        f.clock.advance(by: .seconds(9))
        #expect(await failingCalls(f, 1) == [1])
        f.clock.advance(by: .seconds(1))
        #expect(await failingCalls(f, 2).isEmpty)
        #expect(f.faults.log.map(\.at) == [.seconds(10), .seconds(10), .seconds(19)])
    }

    @Test("after k successes, and a limit makes it stop")
    func afterSuccesses() async {
        let f = FaultedMemory()
        f.faults.inject(.outOfMemory, on: .only(.get), schedule: .afterSuccesses(2), limit: 3)
        #expect(await failingCalls(f, 7) == [3, 4, 5])
    }

    @Test("a one-shot fault fires once")
    func oneShot() async {
        let f = FaultedMemory()
        let id = f.faults.inject(.busy, limit: 1, label: "first call busy")
        #expect(await failingCalls(f, 3) == [1])
        #expect(f.faults.injections(of: id) == 1)
        #expect(f.faults.log(of: id).map(\.label) == ["first call busy"])
    }

    @Test("scope by operation kind")
    func scopeByOperation() async throws {
        let f = FaultedMemory()
        f.faults.inject(.outOfMemory, on: .writes)
        await #expect(throws: CacheError.self) { try await f.cache.set("k", value: ByteBuffer(string: "v")) }
        await #expect(throws: CacheError.self) { try await f.cache.increment("n") }
        #expect(try await f.cache.get("k") == nil)
        #expect(try await f.cache.exists("k") == false)
        #expect(f.faults.log.map(\.operation) == [.set, .increment])
    }

    @Test("scope by key prefix, also inside a batch")
    func scopeByPrefix() async throws {
        let f = FaultedMemory()
        f.faults.inject(.outOfMemory, on: .keys(prefix: "lock:"))
        try await f.cache.set("session:1", value: ByteBuffer(string: "v"))
        await #expect(throws: CacheError.self) { try await f.cache.set("lock:1", value: ByteBuffer(string: "v")) }
        await #expect(throws: CacheError.self) {
            try await f.cache.mset([KeyValue("a", ByteBuffer(string: "1")), KeyValue("lock:2", ByteBuffer(string: "2"))])
        }
        #expect(f.faults.log.map(\.key) == ["lock:1", "a"])
    }

    @Test("scope by route, from the argument or from CacheRoute.current")
    func scopeByRoute() async throws {
        let f = FaultedMemory()
        f.faults.inject(.busy, on: .route("POST /orders/upload"))
        #expect(await failingCalls(f, 1, route: "GET /health").isEmpty)
        #expect(await failingCalls(f, 1, route: "POST /orders/upload") == [1])
        let inRoute = await CacheRoute.$current.withValue("POST /orders/upload") { await failingCalls(f, 2) }
        #expect(inRoute == [1, 2])
        #expect(f.faults.log.map(\.route) == Array(repeating: "POST /orders/upload", count: 3))
    }

    @Test("fixed latency delays the call on the clock, then lets it through")
    func latency() async throws {
        let f = FaultedMemory()
        try await f.cache.set("k", value: ByteBuffer(string: "v"))
        f.faults.inject(.latency(.milliseconds(250)), on: .reads)
        let cache = f.cache
        let read = Task { try await cache.get("k") }
        await f.clock.waitForSleepers(1)
        f.clock.advance(by: .milliseconds(249))
        #expect(f.clock.sleeperCount == 1)
        f.clock.advance(by: .milliseconds(1))
        #expect(try await read.value?.text == "v")
        #expect(f.faults.log.map(\.delay) == [.milliseconds(250)])
    }

    @Test("latency adds to an error fault from another rule")
    func latencyThenError() async throws {
        let f = FaultedMemory()
        f.faults.inject(.latency(.seconds(1)))
        f.faults.inject(.busy)
        let cache = f.cache
        let call = Task { await cacheError { () async throws(CacheError) in try await cache.get("k") } }
        await f.clock.waitForSleepers(1)
        f.clock.advance(by: .seconds(1))
        #expect(await call.value?.code == .busy)
        #expect(f.faults.log.map(\.fault) == [.latency(.seconds(1)), .busy])
    }

    @Test("seeded jitter stays in range and repeats with the seed")
    func jitter() async throws {
        func delays(seed: UInt64) async throws -> [Duration] {
            let f = FaultedMemory(seed: seed)
            f.faults.inject(.jitter(.milliseconds(10), .milliseconds(50)))
            let cache = f.cache
            for _ in 0..<20 {
                let call = Task { try await cache.get("k") }
                await f.clock.waitForSleepers(1)
                f.clock.advance(by: .milliseconds(50))
                _ = try await call.value
            }
            return f.faults.log.compactMap(\.delay)
        }
        let a = try await delays(seed: 5)
        #expect(a.count == 20)
        #expect(a.allSatisfy { $0 >= .milliseconds(10) && $0 <= .milliseconds(50) })
        #expect(Set(a).count > 10)
        #expect(a == (try await delays(seed: 5)))
    }

    @Test("removing rules lets everything through")
    func removal() async {
        let f = FaultedMemory()
        let id = f.faults.inject(.busy)
        #expect(await failingCalls(f, 1) == [1])
        f.faults.remove(id)
        #expect(await failingCalls(f, 1).isEmpty)
        f.faults.inject(.busy)
        f.faults.removeAll()
        #expect(await failingCalls(f, 1).isEmpty)
        f.faults.clearLog()
        #expect(f.faults.log.isEmpty && f.faults.injectedCount == 0)
    }

    @Test("the client wrapper injects below any chain, with the task's route")
    func clientWrapper() async throws {
        let faults = FaultInjector(seed: 1, clock: ManualClock())
        faults.inject(.outOfMemory, on: .route("job:resize", operations: FaultOperationKind.writes))
        let client = faults.wrapping(MemoryCache(clock: ManualClock()))
        _ = try await client.execute(.set("a", ByteBuffer(string: "1"), SetOptions()))
        let error = await CacheRoute.$current.withValue("job:resize") {
            await cacheError { () async throws(CacheError) in try await client.execute(.set("b", ByteBuffer(string: "2"), SetOptions())) }
        }
        #expect(error?.code == .outOfMemory)
        #expect(faults.log.map(\.key) == ["b"])
    }

    @Test("SplitMix64 matches the reference sequence")
    func splitMix() {
        var g = SplitMix64(seed: 0)
        #expect([g.next(), g.next(), g.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var u = SplitMix64(seed: 1)
        #expect((0..<1000).allSatisfy { _ in (0..<1).contains(u.nextUnit()) })
    }
}
