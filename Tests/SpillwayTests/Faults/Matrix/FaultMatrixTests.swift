import Foundation
import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The fault matrix: every fault × every operation, on every backend. Each cell asserts:
/// 1. the outcome the policy promises (``FaultMatrixExpectations``);
/// 2. no wrong bytes: anything returned is a value the key may hold;
/// 3. nothing acknowledged is lost: once healed, every key reads back a value it may hold;
/// 4. no orphaned blob once the sweeper has run: every blob left is one a key points at.
@Suite("Fault matrix")
struct FaultMatrixTests {
    @Test("cell", arguments: MatrixFault.allCases, MatrixOperation.allCases)
    func cell(fault: MatrixFault, operation: MatrixOperation) async throws {
        let expected = FaultMatrixExpectations.outcome(fault, operation)
        guard expected != .notApplicable else {
            // A single-reply command cannot have a partial pipeline failure: the injector must
            // leave it alone.
            #expect(fault == .partialPipeline)
            return
        }
        for backend in TestBackend.allCases where fault.applies(to: backend) {
            if fault == .serverRestart {
                try await runRestart(operation, expected)
                continue
            }
            try await backend.withClient { client in
                try await run(fault, operation, expected, MatrixRig(backend: client), backend)
            }
        }
    }

    private func run(_ fault: MatrixFault, _ operation: MatrixOperation, _ expected: CellOutcome, _ rig: MatrixRig, _ backend: TestBackend) async throws {
        var model = try await rig.seed()
        try await arm(fault, for: operation, rig, &model)

        let (outcome, returned) = await driving(rig.clock, step: .milliseconds(50)) {
            await Self.perform(operation, under: fault, rig)
        }
        #expect(outcome == expected, "\(fault) × \(operation) on \(backend)")
        expectFaultReached(fault, operation, rig)
        update(&model, operation, fault, outcome)

        // 2. No wrong bytes: whatever came back is a value the key may hold (or, for a read the
        // transport failed, a miss that was counted).
        if fault.isTransport, operation == .get, outcome == .miss {
            #expect(returned.allSatisfy { $0.1 == nil })
            #expect(rig.degradeStats.counts.readsDegraded == 1, "\(fault) × get on \(backend): the degraded read was counted")
        } else if fault == .blobStoreUnavailable, operation == .get, outcome == .miss {
            // The pointer was read, the blob store failed (checked below): a miss, never bytes.
            #expect(returned.allSatisfy { $0.1 == nil })
        } else {
            for (key, value) in returned {
                #expect(model[key, default: []].contains(value), "\(fault) × \(operation) on \(backend): \(key) returned bytes it never held")
            }
        }

        rig.faults.removeAll()
        rig.blobs.mode = .healthy
        try await verifyHealed(rig, model, "\(fault) × \(operation) on \(backend)")
    }

    /// The server stops under the operation and comes back with its append-only file.
    private func runRestart(_ operation: MatrixOperation, _ expected: CellOutcome) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-matrix-\(UInt64.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let options = RedisServer.Options(extraArguments: ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory])
        try await RedisServer.withRedisServer(options) { server in
            let client = try server.makeClient {
                // A stopped server refuses connections at once, so no fault here waits for a
                // timeout; these only bound a loaded machine (the seed writes with
                // appendfsync always, and 500 ms was missed in a full CI run).
                $0.connectTimeout = .seconds(2)
                $0.commandTimeout = .seconds(10)
                $0.initialBackoff = .milliseconds(1)
                $0.maxBackoff = .milliseconds(10)
            }
            do {
                let rig = MatrixRig(backend: client)
                var model = try await rig.seed()
                await server.stop()
                let (outcome, returned) = await Self.perform(operation, under: .serverRestart, rig)
                #expect(outcome == expected, "serverRestart × \(operation)")
                update(&model, operation, .serverRestart, outcome)
                if operation == .get {
                    #expect(returned.allSatisfy { $0.1 == nil })
                    #expect(rig.degradeStats.counts.readsDegraded == 1, "serverRestart × get: the degraded read was counted")
                } else {
                    #expect(returned.allSatisfy { model[$0.0, default: []].contains($0.1) })
                }
                try await server.restart()
                try await verifyHealed(rig, model, "serverRestart × \(operation) on redis")
                await client.close()
            } catch {
                await client.close()
                throw error
            }
        }
    }

    /// 3. Nothing acknowledged is lost, and 4. no orphaned blob after a sweep.
    private func verifyHealed(_ rig: MatrixRig, _ model: MatrixRig.Model, _ label: String) async throws {
        for key in MatrixRig.keys {
            let value = try await rig.cache.get(key)
            #expect(model[key, default: []].contains(value), "\(label): \(key) reads \(value.map { "\($0.readableBytes) bytes" } ?? "nil")")
        }
        let sweeper = BlobSweeper(store: rig.blobs, client: rig.backend, minimumAge: .zero)
        try await sweeper.sweepOnce()
        var pointed: Set<BlobID> = []
        for key in MatrixRig.keys {
            if let p = try await rig.pointer(key) { pointed.insert(p.id) }
        }
        let left = Set(await rig.memoryBlobs.ids)
        #expect(left.isSubset(of: pointed), "\(label): \(left.subtracting(pointed).count) orphaned blob(s)")
    }

    /// A cell passes only if its fault was really in its path: the injector or the blob store
    /// says it failed something, except where the fault does not touch the operation by design.
    private func expectFaultReached(_ fault: MatrixFault, _ operation: MatrixOperation, _ rig: MatrixRig) {
        switch fault {
        case .outOfMemory:
            // Redis serves reads and deletes under OOM: nothing is injected into them.
            let touchesWrites = operation != .get && operation != .delete
            #expect((rig.faults.injectedCount > 0) == touchesWrites, "\(fault) × \(operation): injected \(rig.faults.injectedCount)")
        case .loading, .busy, .timeout, .connectionReset, .latency, .partialPipeline:
            #expect(rig.faults.injectedCount > 0, "\(fault) × \(operation): nothing injected")
        case .blobStoreUnavailable:
            let touchesStore = operation == .get || operation == .setSpilled || operation == .delete
            #expect((rig.blobs.failures > 0) == touchesStore, "\(fault) × \(operation): \(rig.blobs.failures) store failures")
        case .blobStoreFull:
            #expect((rig.blobs.failures > 0) == (operation == .setSpilled), "\(fault) × \(operation): \(rig.blobs.failures) store failures")
        case .blobMissing, .blobCorrupted, .serverRestart:
            break
        }
    }

    /// Turns the fault on.
    private func arm(_ fault: MatrixFault, for operation: MatrixOperation, _ rig: MatrixRig, _ model: inout MatrixRig.Model) async throws {
        switch fault {
        case .outOfMemory: rig.faults.inject(.outOfMemory, on: .writes)
        case .loading: rig.faults.inject(.loading)
        case .busy: rig.faults.inject(.busy)
        case .timeout: rig.faults.inject(.timeout(after: .seconds(1)))
        case .connectionReset: rig.faults.inject(.connectionReset())
        case .latency: rig.faults.inject(.latency(.milliseconds(50)))
        case .partialPipeline:
            // Only the batch itself: the spill's own read-before-mset must not be the one that fails.
            rig.faults.inject(.partialPipeline(reply: 1, failingWith: .loading), on: .only(operation == .get ? .mget : .mset))
        case .serverRestart: break  // runRestart stops the server itself
        case .blobStoreUnavailable: rig.blobs.mode = .unavailable
        case .blobStoreFull: rig.blobs.mode = .full
        case .blobMissing:
            let p = try #require(try await rig.pointer(MatrixRig.big))
            #expect(await rig.memoryBlobs.delete(p.id))
            model[MatrixRig.big] = [nil]
        case .blobCorrupted:
            let p = try #require(try await rig.pointer(MatrixRig.big))
            #expect(await rig.memoryBlobs.corrupt(p.id, byteAt: 100))
            model[MatrixRig.big] = [nil]
        }
    }

    /// Runs the column's operation and classifies what the caller saw.
    private static func perform(_ operation: MatrixOperation, under fault: MatrixFault, _ rig: MatrixRig) async -> (CellOutcome, [(CacheKey, ByteBuffer?)]) {
        let cache = rig.cache
        do {
            switch operation {
            case .get:
                if fault == .partialPipeline {
                    let values = try await cache.mget([MatrixRig.small, MatrixRig.big])
                    return (values.allSatisfy { $0 == nil } ? .miss : .value, [(MatrixRig.small, values[0]), (MatrixRig.big, values[1])])
                }
                let key = fault.isBlobRow ? MatrixRig.big : MatrixRig.small
                let value = try await cache.get(key)
                return (value == nil ? .miss : .value, [(key, value)])
            case .setSmall:
                let outcome: WriteOutcome
                if fault == .partialPipeline {
                    outcome = try await cache.mset([KeyValue(MatrixRig.small, MatrixRig.newSmall), KeyValue(MatrixRig.other, MatrixRig.newOther)])
                } else {
                    outcome = try await cache.set(MatrixRig.small, value: MatrixRig.newSmall)
                }
                return (write(outcome), [])
            case .setSpilled:
                return (write(try await cache.set(MatrixRig.big, value: MatrixRig.newBig)), [])
            case .delete:
                let removed = try await cache.delete(fault.isBlobRow ? MatrixRig.big : MatrixRig.small)
                return (removed ? .deleted : .miss, [])
            case .increment:
                let n = try await cache.increment(MatrixRig.counter)
                return (n == 6 ? .counted : .error(.other), [])
            case .rateLimit:
                let decision = await rig.limiter.decide(client: "client-1", scope: "POST /orders", policy: MatrixRig.throttle)
                return (decision.allowed ? .limited(decision.path) : .error(.other), [])
            }
        } catch {
            return (.error(error.code), [])
        }
    }

    private static func write(_ outcome: WriteOutcome) -> CellOutcome {
        switch outcome {
        case .stored: .stored
        case .dropped(let code): .dropped(code)
        case .storedLocally(let code): .error(code)
        case .conditionNotMet: .error(.other)
        }
    }

    /// What each key may hold after the operation.
    ///
    /// A shed overwrite deletes the value it meant to replace (no stale read): where the backend
    /// serves that `DEL` (out-of-memory, the blob rows, a partial batch failure), the key is gone;
    /// where the fault fails the `DEL` too (the transport rows), the old value stays.
    private func update(_ model: inout MatrixRig.Model, _ operation: MatrixOperation, _ fault: MatrixFault, _ outcome: CellOutcome) {
        let deleteServed = fault == .outOfMemory || fault == .partialPipeline || fault.isBlobRow
        switch (operation, outcome) {
        case (.setSmall, .stored):
            model[MatrixRig.small] = [MatrixRig.newSmall]
        case (.setSmall, .dropped) where fault == .partialPipeline:
            // Reply 1 failed; reply 0 was applied, then both keys were deleted.
            model[MatrixRig.small] = [nil]
            model[MatrixRig.other] = [nil]
        case (.setSmall, .dropped) where deleteServed:
            model[MatrixRig.small] = [nil]
        case (.setSpilled, .dropped) where deleteServed:
            model[MatrixRig.big] = [nil]
        case (.setSpilled, .stored):
            model[MatrixRig.big] = [MatrixRig.newBig]
        case (.delete, .deleted):
            model[fault.isBlobRow ? MatrixRig.big : MatrixRig.small] = [nil]
        case (.increment, .counted):
            model[MatrixRig.counter] = [ByteBuffer(string: "6")]
        default:
            break
        }
    }
}
