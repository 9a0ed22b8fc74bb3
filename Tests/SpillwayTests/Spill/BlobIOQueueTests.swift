import Dispatch
import NIOCore
import NIOPosix
@testable import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization
import Testing

/// A deadline reaches a caller waiting on a slow disk, and a blob store that cannot be read
/// costs a read a miss. (That the I/O leaves the caller's thread: `FileBlobStoreOffloadTests`.)
@Suite("Blob store I/O: deadlines and failed reads")
struct BlobIOQueueTests {
    @Test("a cancelled caller stops waiting on a blocked disk at once; what the work made is handed to abandoned")
    func cancelledWait() async throws {
        let release = DispatchSemaphore(value: 0)
        let abandoned = DispatchSemaphore(value: 0)
        let abandonedValue = SharedFlag()
        let started = DispatchSemaphore(value: 0)
        let task = Task { () async throws -> Int in
            try await BlobIOQueue.run { () throws(CacheError) -> Int in
                started.signal()
                release.wait()
                return 7
            } abandoned: { value in
                abandonedValue.set(value == 7)
                abandoned.signal()
            }
        }
        // Wait (off the cooperative pool) until the work is blocked, then cancel the caller.
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                started.wait(); c.resume()
            }
        }
        task.cancel()
        let result = await task.result
        guard case .failure(let error) = result else {
            Issue.record("the cancelled caller got \(result)")
            release.signal()
            return
        }
        #expect((error as? CacheError)?.code == .cancelled)
        release.signal()
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                abandoned.wait(); c.resume()
            }
        }
        #expect(abandonedValue.value == true, "the abandoned result (7) was handed over")
    }

    @Test("a spilled read whose blob store cannot answer is a counted miss under onReadFailure: miss, the error under fail", arguments: TestBackend.allCases)
    func blobReadDegrades(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let memory = MemoryBlobStore(name: "s")
            let blobs = FaultyBlobStore(memory)
            let policies = PolicyTable(defaults: CachePolicy(spillAbove: 1024), prefixes: ["strict:": PolicyOverrides(onReadFailure: .fail)])
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: policies) {
                ValueSpill(store: blobs)
                Degrade<ManualClock>()
            }
            let value = spillBytes(4096, seed: 3)
            #expect(try await cache.set("big", value: value) == .stored)
            #expect(try await cache.set("strict:big", value: value) == .stored)
            blobs.mode = .unavailable
            #expect(try await cache.get("big") == nil, "a counted miss, not a 500")
            await #expect(throws: CacheError.self) { _ = try await cache.get("strict:big") }
            blobs.mode = .healthy
            #expect(try await cache.get("big") == value, "nothing was lost")
        }
    }
}

/// A value set on one thread and read on another.
final class SharedFlag: Sendable {
    private let state = Mutex<Bool?>(nil)
    func set(_ value: Bool) { state.withLock { $0 = value } }
    var value: Bool? { state.withLock { $0 } }
}
