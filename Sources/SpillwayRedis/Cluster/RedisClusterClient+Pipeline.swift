public import Spillway
import Synchronization

extension RedisClusterClient {
    /// Sends `commands` split by node: the commands for each master go in one write on one
    /// connection (a pipeline), and the masters' pipelines run concurrently. Replies come back in
    /// the order of `commands`.
    ///
    /// Each command is followed on its own, as ``execute(_:)`` follows one: a `MOVED` reply
    /// patches the slot map and sends that command again to the new master (with the next round
    /// of the commands still to send, grouped by node again); an `ASK` reply sends it again
    /// preceded by `ASKING`; `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN` and `READONLY`
    /// send it again after a backoff, within ``RedisClusterConfiguration/retryTimeout``. None of
    /// these ran the command, so nothing runs twice. Other error replies (`WRONGTYPE`,
    /// `CROSSSLOT`, …) are returned as ``RESPValue/error(_:)``, as ``RedisClient/pipeline(_:)``
    /// returns them. A node whose connection could not be opened is retried too; one whose
    /// connection broke with the pipeline in flight is retried only with `resendIfLost` (its
    /// commands may or may not have run).
    /// - Parameters:
    ///   - commands: the commands, each with the key that routes it.
    ///   - resendIfLost: send a node's commands again when its connection broke in flight (for
    ///     commands that are harmless to run twice).
    /// - Throws: a transport error of a node; `.busy` when the cluster still refuses, or keeps
    ///   redirecting a command, at the end of the retry timeout (or after
    ///   ``RedisClusterConfiguration/maxRedirections`` for one command).
    public func pipeline(_ commands: [RedisClusterCommand], resendIfLost: Bool = false) async throws(CacheError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let deadline = ContinuousClock.now + configuration.retryTimeout
        let slots = commands.map { Self.slot(of: $0.key) }
        var replies = [RESPValue?](repeating: nil, count: commands.count)
        var redirections = [Int](repeating: 0, count: commands.count)
        var pending = commands.indices.map { PipelineItem(index: $0, asking: nil) }
        var attempt = 0
        var lastError = CacheError(.busy, "the Redis Cluster kept refusing the pipeline")
        while !pending.isEmpty {
            let (batches, unrouted) = try await batchesByNode(pending, slots: slots)
            let results = try await Self.concurrently(batches) { [self] batch async throws(CacheError) -> PipelineBatchResult in
                await send(batch, commands)
            }
            var next = unrouted
            var wait = !unrouted.isEmpty
            if !unrouted.isEmpty { lastError = CacheError(.busy, "CLUSTERDOWN no Redis Cluster master serves some commands' slots") }
            for (batch, result) in zip(batches, results) {
                switch result {
                case .failed(let error):
                    lastError = error
                    switch RedisClusterFailure(error) {
                    case .notSent, .lost:
                        let decision = state.withLock { $0.router.connectionFailed(batch.address, now: .now, jitter: jitter()) }
                        await carryOut(decision)
                        guard resendIfLost || RedisClusterFailure(error) == .notSent else { throw error }
                        next += batch.items.map { PipelineItem(index: $0.index, asking: nil) }
                        wait = true
                    default:
                        throw error
                    }
                case .replies(let values):
                    for (item, value) in zip(batch.items, values) {
                        guard case .error(let message) = value else {
                            replies[item.index] = value
                            continue
                        }
                        let error = CacheError.redisReply(message)
                        switch RedisClusterFailure(error) {
                        case .moved(let movedSlot, let address):
                            redirections[item.index] += 1
                            guard redirections[item.index] <= configuration.maxRedirections else { throw Self.tooManyRedirections(error) }
                            let decision = state.withLock { s in
                                let decision = s.router.moved(slot: movedSlot, to: address, now: .now, jitter: jitter())
                                topologyChanged(&s)
                                return decision
                            }
                            await carryOut(decision)
                            next.append(PipelineItem(index: item.index, asking: nil))
                            // Bounced again: the nodes do not agree yet; wait (see `routed`).
                            if redirections[item.index] > 1 {
                                wait = true
                                lastError = Self.tooManyRedirections(error)
                            }
                        case .ask(_, let address):
                            redirections[item.index] += 1
                            guard redirections[item.index] <= configuration.maxRedirections else { throw Self.tooManyRedirections(error) }
                            state.withLock { $0.router.asked() }
                            next.append(PipelineItem(index: item.index, asking: address))
                        case .transient(let clusterDown):
                            if clusterDown { await requestRefresh(.clusterDown) }
                            next.append(PipelineItem(index: item.index, asking: nil))
                            wait = true
                            lastError = CacheError(.busy, error.message, underlying: error)
                        case .readOnly:
                            await requestRefresh(.readOnly)
                            next.append(PipelineItem(index: item.index, asking: nil))
                            wait = true
                            lastError = error
                        case .notSent, .lost, .other:
                            replies[item.index] = value
                        }
                    }
                }
            }
            if wait && !next.isEmpty { try await backOff(&attempt, until: deadline, lastError) }
            pending = next
        }
        return replies.map { $0! }
    }

    /// Groups `items` by the node each goes to (its `ASK` target, else its slot's master). Items
    /// whose slot has no master, even after a refresh, are returned apart.
    private func batchesByNode(
        _ items: [PipelineItem], slots: [Int]
    ) async throws(CacheError) -> (batches: [PipelineBatch], unrouted: [PipelineItem]) {
        var routes = state.withLock { s in items.map { $0.asking ?? s.route(slot: slots[$0.index], checkPending: false, jitter: { .zero }).master } }
        if routes.contains(where: { $0 == nil }) {
            let hasMap = state.withLock { $0.router.topology != nil }
            await requestRefresh(hasMap ? .clusterDown : .initial)
            routes = state.withLock { s in items.map { $0.asking ?? s.router.route(slot: slots[$0.index]) } }
        }
        var batches: [PipelineBatch] = []
        var position: [RedisClusterNodeAddress: Int] = [:]
        var unrouted: [PipelineItem] = []
        for (item, route) in zip(items, routes) {
            guard let address = route else {
                unrouted.append(item)
                continue
            }
            if let p = position[address] {
                batches[p].items.append(item)
            } else {
                position[address] = batches.count
                batches.append(PipelineBatch(address: address, client: try node(address), items: [item]))
            }
        }
        return (batches, unrouted)
    }

    /// Sends one node's commands as one pipeline (an `ASKING` before each command that follows
    /// an `ASK`); the replies of the commands alone, in order, or the transport error.
    private func send(_ batch: PipelineBatch, _ commands: [RedisClusterCommand]) async -> PipelineBatchResult {
        var wire: [[any RESPArgument]] = []
        wire.reserveCapacity(batch.items.count)
        for item in batch.items {
            if item.asking != nil { wire.append(["ASKING"]) }
            wire.append(commands[item.index].arguments)
        }
        do {
            let out = try await batch.client.pipeline(wire)
            var values: [RESPValue] = []
            values.reserveCapacity(batch.items.count)
            var i = 0
            for item in batch.items {
                if item.asking != nil { i += 1 }  // ASKING's +OK
                values.append(out[i])
                i += 1
            }
            return .replies(values)
        } catch {
            return .failed(error)
        }
    }
}

/// A command of a cluster pipeline still to send: its index, and the node it was `ASK`ed to.
struct PipelineItem: Sendable {
    var index: Int
    var asking: RedisClusterNodeAddress?
}

/// The commands of a cluster pipeline that go to one node in one round.
struct PipelineBatch: Sendable {
    var address: RedisClusterNodeAddress
    var client: RedisClient
    var items: [PipelineItem]
}

/// What one node answered to its part of a cluster pipeline.
enum PipelineBatchResult: Sendable {
    case replies([RESPValue])
    case failed(CacheError)
}
