import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("FaultInjector: error faults")
struct FaultInjectorErrorTests {
    @Test("OOM has Redis's exact text and code, on writes only; reads keep working")
    func outOfMemory() async throws {
        let f = FaultedMemory()
        _ = try await f.backend.execute(.set("k", ByteBuffer(string: "old"), SetOptions()))
        f.faults.inject(.outOfMemory, on: .writes)
        let error = await cacheError { () async throws(CacheError) in try await f.cache.set("k", value: ByteBuffer(string: "new")) }
        #expect(error?.code == .outOfMemory)
        #expect(error?.message == CacheError.redisOOMMessage)
        #expect(error?.message == "OOM command not allowed when used memory > 'maxmemory'.")
        #expect(try await f.cache.get("k")?.text == "old")
        #expect(try await f.cache.delete("k"))
        #expect(f.faults.injectedCount == 1)
        #expect(f.faults.log.map(\.operation) == [.set])
        #expect(f.faults.calls == 3)
    }

    @Test(
        "LOADING and BUSY are .busy with Redis's texts",
        arguments: [
            (Fault.loading, "LOADING Redis is loading the dataset in memory"),
            (Fault.busy, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
        ])
    func busyAndLoading(fault: Fault, text: String) async throws {
        let f = FaultedMemory()
        f.faults.inject(fault)
        let error = await cacheError { () async throws(CacheError) in try await f.cache.get("k") }
        #expect(error?.code == .busy)
        #expect(error?.message == text)
        #expect(error?.failureClass == .busy)
    }

    @Test("A timeout waits its delay on the clock, then throws .timeout without reaching the backend")
    func timeout() async throws {
        let f = FaultedMemory()
        f.faults.inject(.timeout(after: .seconds(2)))
        let cache = f.cache
        let call = Task { await cacheError { () async throws(CacheError) in try await cache.set("k", value: ByteBuffer(string: "v")) } }
        await f.clock.waitForSleepers(1)
        f.clock.advance(by: .seconds(2) - .nanoseconds(1))
        #expect(f.clock.sleeperCount == 1)
        f.clock.advance(by: .nanoseconds(1))
        let error = await call.value
        #expect(error?.code == .timeout)
        #expect(try await f.stored("k") == nil)
    }

    @Test("A timeout with executed: true ran on the backend; the caller still sees .timeout")
    func timeoutExecuted() async throws {
        let f = FaultedMemory()
        f.faults.inject(.timeout(after: .milliseconds(500), executed: true))
        let cache = f.cache
        let call = Task { await cacheError { () async throws(CacheError) in try await cache.set("k", value: ByteBuffer(string: "v")) } }
        await f.clock.waitForSleepers(1)
        f.clock.advance(by: .milliseconds(500))
        #expect(await call.value?.code == .timeout)
        #expect(try await f.stored("k")?.text == "v")
    }

    @Test("A connection reset is .connection; executed: true means the server ran it", arguments: [false, true])
    func connectionReset(executed: Bool) async throws {
        let f = FaultedMemory()
        f.faults.inject(.connectionReset(executed: executed), on: .only(.set))
        let error = await cacheError { () async throws(CacheError) in try await f.cache.set("k", value: ByteBuffer(string: "v")) }
        #expect(error?.code == .connection)
        #expect(error?.message == Fault.connectionResetMessage)
        #expect(try await f.stored("k")?.text == (executed ? "v" : nil))
    }

    @Test("A custom error carries its code and text")
    func customError() async throws {
        let f = FaultedMemory()
        f.faults.inject(.error(.blobStore, "disk full"))
        let error = await cacheError { () async throws(CacheError) in try await f.cache.get("k") }
        #expect(error?.code == .blobStore)
        #expect(error?.message == "disk full")
    }

    @Test("Partial mset failure: the other pairs are written, the failed one is not, the call throws")
    func partialMset() async throws {
        let f = FaultedMemory()
        f.faults.inject(.partialPipeline(reply: 1, failingWith: .outOfMemory))
        let pairs = ["a", "b", "c"].map { KeyValue(CacheKey($0), ByteBuffer(string: "v-\($0)")) }
        let error = await cacheError { () async throws(CacheError) in try await f.cache.mset(pairs) }
        #expect(error?.code == .outOfMemory)
        #expect(error?.message == "reply 1 of 3: " + CacheError.redisOOMMessage)
        #expect(try await f.stored("a")?.text == "v-a")
        #expect(try await f.stored("b") == nil)
        #expect(try await f.stored("c")?.text == "v-c")
    }

    @Test("Partial mget failure throws: no partial result can reach the caller")
    func partialMget() async throws {
        let f = FaultedMemory()
        _ = try await f.backend.execute(.mset([KeyValue("a", ByteBuffer(string: "1")), KeyValue("b", ByteBuffer(string: "2"))], ttl: nil))
        f.faults.inject(.partialPipeline(reply: 0, failingWith: .connectionReset()))
        let error = await cacheError { () async throws(CacheError) in try await f.cache.mget(["a", "b"]) }
        #expect(error?.code == .connection)
        #expect(error?.message.hasPrefix("reply 0 of 2: ") == true)
    }

    @Test("A partial failure beyond the batch, or on a single-key operation, injects nothing")
    func partialOutOfScope() async throws {
        let f = FaultedMemory()
        f.faults.inject(.partialPipeline(reply: 2))
        try await f.cache.mset([KeyValue("a", ByteBuffer(string: "1")), KeyValue("b", ByteBuffer(string: "2"))])
        try await f.cache.set("c", value: ByteBuffer(string: "3"))
        #expect(try await f.cache.mget(["a", "c"]).compactMap { $0?.text } == ["1", "3"])
        #expect(f.faults.injectedCount == 0)
        #expect(try await f.stored("c")?.text == "3")
        await #expect(throws: CacheError.self) { try await f.cache.mget(["a", "b", "c"]) }
        #expect(f.faults.injectedCount == 1)
    }
}
