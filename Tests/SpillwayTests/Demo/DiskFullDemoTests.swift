import Testing
import Spillway
@testable import spillway

/// `spillway demo --shape payload-in-value --tasks 200` with its blob store on a real 256 KiB
/// tmpfs: the disk fills after a couple of dozen 10 KB values, and the guarded runs shed the
/// spilled writes they cannot store instead of failing the task.
@Suite("spillway demo with the blob store on a full disk")
struct DiskFullDemoTests {
    static let replay = IncidentReplay(tasks: 200, keyBytes: 10_240, concurrency: 16, clients: 50, shape: .payloadInValue)

    @Test("guarded: 0 failed tasks and requests; the writes the full disk refused are reported as shed")
    func fullDisk() async throws {
        try await withTinyFilesystem { dir in
            let report = try await DemoCommand.report(on: MemoryDemoTarget(), limit: 8 << 20, replay: Self.replay, blobParent: dir)
            let guarded = report.guarded
            #expect(guarded.failedRequests == 0, "\(guarded.failuresByCode)")
            #expect(guarded.failedTasks == 0, "\(guarded.failuresByCode)")
            #expect(guarded.failuresByCode.isEmpty, "\(guarded.failuresByCode)")
            // On a cache that is already full, no request fails either, and no failure comes
            // from the full disk: the tasks that fail there are the counter steps (`INCR`),
            // which are never shed (a counter must not silently skip a step).
            #expect(report.guardedFullCache.failedRequests == 0)
            #expect(report.guardedFullCache.failuresByCode["blobStore"] == nil, "\(report.guardedFullCache.failuresByCode)")
            let shed = guarded.counters?.writesShed ?? 0
            // 256 KiB holds some 10 KB blobs, not 200: most spilled lock writes were shed.
            #expect(shed > 100, "\(shed) shed")
            #expect(guarded.completedTasks > 0, "the first values fit on the disk")
            #expect(guarded.completedTasks + shed == Self.replay.tasks, "every task either stored its lock or was told it was shed")
            #expect((guarded.counters?.blobBytes ?? 0) <= 256 * 1024)
        }
    }
}
