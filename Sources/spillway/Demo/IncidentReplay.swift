import NIOCore
import Spillway

/// The incident's workload: each simulated upload request first runs the throttle (a cache
/// write for the client, as DRF's `check_throttles()` did), then starts a task whose rate-limit
/// bookkeeping writes two lock keys built from the raw ~10 KB payload:
/// `<payload>-first_task_at` (SET NX with a TTL) and `<payload>-count_tasks` (INCR, TTL on create).
/// A request fails when any of its cache calls throws.
struct IncidentReplay: Sendable {
    var tasks: Int
    var keyBytes: Int
    var concurrency: Int
    var clients: Int
    var shape: WorkloadShape

    enum WorkloadShape: String, Sendable, CaseIterable {
        /// The incident: the payload is in the lock keys.
        case payloadInKey = "payload-in-key"
        /// The payload is passed as the cache value of the task's `first_task_at` key instead.
        case payloadInValue = "payload-in-value"
    }

    struct Result: Sendable {
        var requests = 0
        var failedRequests = 0
        var completedTasks = 0
        var failuresByCode: [String: Int] = [:]
        var latency = LatencyRecorder()
        var throttleDecisions: [String: Int] = [:]
    }

    /// Runs the workload through `call`, which performs one cache operation for a step name.
    func run(_ call: @escaping @Sendable (_ step: Step, _ operation: CacheOperation) async throws(CacheError) -> CacheReply) async -> Result {
        await withTaskGroup(of: Result.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var result = Result()
                    var task = worker
                    while task < tasks {
                        await request(task, call, into: &result)
                        task += concurrency
                    }
                    return result
                }
            }
            var total = Result()
            for await part in group {
                total.requests += part.requests
                total.failedRequests += part.failedRequests
                total.completedTasks += part.completedTasks
                total.failuresByCode.merge(part.failuresByCode, uniquingKeysWith: +)
                total.throttleDecisions.merge(part.throttleDecisions, uniquingKeysWith: +)
                total.latency.merge(part.latency)
            }
            return total
        }
    }

    /// The named steps of one request.
    enum Step: String, Sendable {
        case throttle, firstTaskAt = "lock_first_task_at", countTasks = "lock_count_tasks"
    }

    private func request(
        _ task: Int,
        _ call: @Sendable (_ step: Step, _ operation: CacheOperation) async throws(CacheError) -> CacheReply,
        into result: inout Result
    ) async {
        result.requests += 1
        let clock = ContinuousClock()
        let payload = Self.payload(task: task, bytes: keyBytes)
        let client = task % max(1, clients)
        let steps: [(Step, CacheOperation)]
        let history = ByteBuffer(string: "[\(task), \(task - 1), \(task - 2)]")
        let throttle = (Step.throttle, CacheOperation.set(CacheKey("throttle_user_\(client)"), history, SetOptions(ttl: .seconds(60))))
        switch shape {
        case .payloadInKey:
            steps = [
                throttle,
                (.firstTaskAt, .set(CacheKey(payload + "-first_task_at"), ByteBuffer(string: "1764164000.\(task)"), SetOptions(ttl: .seconds(3600), condition: .ifNotExists))),
                (.countTasks, .increment(CacheKey(payload + "-count_tasks"), by: 1, ttlOnCreate: .seconds(3600))),
            ]
        case .payloadInValue:
            let id = "task:\(task)"
            steps = [
                throttle,
                (.firstTaskAt, .set(CacheKey(id + "-first_task_at"), ByteBuffer(string: payload), SetOptions(ttl: .seconds(3600), condition: .ifNotExists))),
                (.countTasks, .increment(CacheKey(id + "-count_tasks"), by: 1, ttlOnCreate: .seconds(3600))),
            ]
        }
        for (step, operation) in steps {
            let start = clock.now
            do {
                let reply = try await call(step, operation)
                if case .throttle(let d) = reply { result.throttleDecisions[d.allowed ? "allowed" : "denied", default: 0] += 1 }
            } catch {
                result.latency.record(step.rawValue, start.duration(to: clock.now))
                result.failedRequests += 1
                result.failuresByCode["\(error.code)", default: 0] += 1
                return
            }
            result.latency.record(step.rawValue, start.duration(to: clock.now))
        }
        result.completedTasks += 1
    }

    /// A deterministic ~`bytes` payload that looks like serialized sale orders.
    static func payload(task: Int, bytes: Int) -> String {
        var state = UInt64(truncatingIfNeeded: task) &+ 0x9E37_79B9_7F4A_7C15
        var out = "{\"sale_orders\":["
        out.reserveCapacity(bytes + 32)
        while out.utf8.count < bytes - 2 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out += "{\"id\":\(state >> 40),\"sku\":\"SKU-\(state >> 52)\",\"qty\":\((state >> 33) % 9 + 1)},"
        }
        out = String(out.utf8.prefix(bytes - 2))!
        return out + "]}"
    }
}
