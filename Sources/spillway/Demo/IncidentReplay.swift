import NIOCore
import Spillway

/// The incident's workload: each simulated upload request first runs the throttle (a cache
/// write for the client, as DRF's `check_throttles()` did), then starts a task whose rate-limit
/// bookkeeping writes two lock keys built from the raw ~10 KB payload:
/// `<payload>-first_task_at` (SET NX with a TTL) and `<payload>-count_tasks` (INCR, TTL on create).
/// A request fails (a 500, as in the incident) when its throttle throws; a task fails when its
/// lock writes throw.
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
        /// Requests whose throttle threw (a 500 in the incident).
        var failedRequests = 0
        /// Background tasks whose lock writes threw.
        var failedTasks = 0
        var completedTasks = 0
        var failuresByCode: [String: Int] = [:]
        var latency = LatencyRecorder()
        var throttleDecisions: [String: Int] = [:]
        var writesShed = 0
    }

    /// The throttle step of one request, for a client: `nil` when it only wrote (DRF's
    /// `cache.set` of the history), else the limiter's decision path.
    typealias Throttle = @Sendable (_ client: Int, _ task: Int) async throws(CacheError) -> String?

    /// DRF's throttle: write the client's request history with the throttle duration as TTL.
    static func drfThrottle(_ call: @escaping @Sendable (CacheOperation) async throws(CacheError) -> CacheReply) -> Throttle {
        { client, task throws(CacheError) in
            let history = ByteBuffer(string: "[\(task), \(task - 1), \(task - 2)]")
            _ = try await call(.set(CacheKey("throttle_user_\(client)"), history, SetOptions(expiry: .after(.seconds(60)))))
            return nil
        }
    }

    /// Runs the workload: `throttle` first, then the task's lock writes through `call`.
    func run(
        throttle: @escaping Throttle,
        _ call: @escaping @Sendable (_ step: Step, _ operation: CacheOperation) async throws(CacheError) -> CacheReply
    ) async -> Result {
        await withTaskGroup(of: Result.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var result = Result()
                    var task = worker
                    while task < tasks {
                        await request(task, throttle, call, into: &result)
                        task += concurrency
                    }
                    return result
                }
            }
            var total = Result()
            for await part in group {
                total.requests += part.requests
                total.failedRequests += part.failedRequests
                total.failedTasks += part.failedTasks
                total.completedTasks += part.completedTasks
                total.failuresByCode.merge(part.failuresByCode, uniquingKeysWith: +)
                total.throttleDecisions.merge(part.throttleDecisions, uniquingKeysWith: +)
                total.writesShed += part.writesShed
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
        _ throttle: Throttle,
        _ call: @Sendable (_ step: Step, _ operation: CacheOperation) async throws(CacheError) -> CacheReply,
        into result: inout Result
    ) async {
        result.requests += 1
        let clock = ContinuousClock()
        let payload = Self.payload(task: task, bytes: keyBytes)
        let client = task % max(1, clients)
        let start = clock.now
        do {
            if let path = try await throttle(client, task) { result.throttleDecisions[path, default: 0] += 1 }
            result.latency.record(Step.throttle.rawValue, start.duration(to: clock.now))
        } catch {
            result.latency.record(Step.throttle.rawValue, start.duration(to: clock.now))
            // The throttle runs inside the request: an error here is a 500, and the task never starts.
            result.failedRequests += 1
            result.failuresByCode["\(error.code)", default: 0] += 1
            return
        }
        let steps: [(Step, CacheOperation)]
        let id = shape == .payloadInKey ? payload : "task:\(task)"
        let lockValue = shape == .payloadInKey ? ByteBuffer(string: "1764164000.\(task)") : ByteBuffer(string: payload)
        steps = [
            (.firstTaskAt, .set(CacheKey(id + "-first_task_at"), lockValue, SetOptions(expiry: .after(.seconds(3600)), condition: .ifNotExists))),
            (.countTasks, .increment(CacheKey(id + "-count_tasks"), by: 1, ttlOnCreate: .seconds(3600))),
        ]
        var stored = true
        for (step, operation) in steps {
            let start = clock.now
            do {
                let reply = try await call(step, operation)
                if case .write(let w) = reply, case .dropped = w.outcome {
                    result.writesShed += 1
                    stored = false
                }
            } catch {
                result.latency.record(step.rawValue, start.duration(to: clock.now))
                // The lock writes run in the background task: an error fails the task, not the request.
                result.failedTasks += 1
                result.failuresByCode["\(error.code)", default: 0] += 1
                return
            }
            result.latency.record(step.rawValue, start.duration(to: clock.now))
        }
        if stored { result.completedTasks += 1 }
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
