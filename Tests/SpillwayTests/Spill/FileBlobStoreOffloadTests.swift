import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization
import Testing

/// FileBlobStore's blocking I/O runs off the caller's thread: a request task on a NIO event loop
/// (EventLoopTaskExecutor, as docs/REDIS.md recommends) never does an `fsync` on that loop, and
/// the loop keeps serving other work while a write is in progress.
@Suite("FileBlobStore I/O off the caller's thread")
struct FileBlobStoreOffloadTests {
    @Test("put, get, setExpiry, scan and delete from a task on an event loop do their file I/O elsewhere; the loop runs other work meanwhile")
    func offEventLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        var store = try FileBlobStore.temporary()
        defer { try? store.removeAll() }
        let calls = Mutex((onLoop: 0, offLoop: 0, loopServed: 0))
        store.ioHook = {
            let onLoop = loop.inEventLoop
            // While this I/O is in progress, the loop must run other work: wait for a job
            // submitted to it (it would never run if this were the loop's own thread).
            let served = !onLoop && (try? loop.submit { true }.wait()) == true
            calls.withLock {
                if onLoop { $0.onLoop += 1 } else { $0.offLoop += 1 }
                if served { $0.loopServed += 1 }
            }
        }
        let hooked = store
        try await withTaskExecutorPreference(executor) {
            #expect(loop.inEventLoop, "the test's task runs on the loop")
            let id = try await hooked.put(spillBytes(1 << 20), metadata: BlobMetadata(createdAt: spillOrigin))
            #expect(try await hooked.get(id) == spillBytes(1 << 20))
            #expect(try await hooked.setExpiry(id, spillOrigin))
            #expect(try await hooked.scan(after: nil, limit: 10).blobs.map(\.id) == [id])
            #expect(try await hooked.delete(id))
            #expect(loop.inEventLoop, "and is back on the loop after each call")
        }
        let seen = calls.withLock { $0 }
        #expect(seen.onLoop == 0, "no file I/O ran on the event loop")
        #expect(seen.offLoop == 5)
        #expect(seen.loopServed == 5, "the loop served other work during every operation")
        try await group.shutdownGracefully()
    }
}
