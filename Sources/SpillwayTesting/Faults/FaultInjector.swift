public import Spillway
internal import Synchronization

/// A middleware that injects scripted faults: put it last in a chain (closest to the backend),
/// or wrap a client with ``wrapping(_:)``, and tell it what to break and when.
///
/// ```swift
/// let clock = ManualClock()
/// let faults = FaultInjector(seed: 7, clock: clock)
/// faults.inject(.outOfMemory, on: .writes, schedule: .everyNth(3))
/// let cache = GuardedCache(client: MemoryCache(clock: clock)) { faults }
/// ```
///
/// Rules are checked in the order they were added, for every operation in their scope. Delay
/// faults (latency, jitter) from every rule that fires add up; then the first error fault that
/// fires is thrown (or, for a partial pipeline failure, applied). A rule that would fire after
/// another rule's error already fired does not fire and is not counted. Each rule keeps its own
/// call count and its own ``SplitMix64`` stream derived from the injector's seed and the rule's
/// identifier, so adding a rule never changes when another one fires. Delays and windows use the
/// injector's clock: with a ``ManualClock`` a test advances time instead of sleeping.
///
/// Everything injected is recorded in ``log`` (up to `logLimit` entries; ``injectedCount`` keeps
/// counting past it). The injector is a class, so the copy inside a chain and the test's
/// reference share rules and log. It is safe to use from many tasks at once; with one task at a
/// time it is fully deterministic.
public final class FaultInjector: CacheMiddleware, Sendable {
    struct RuleState {
        var id: FaultRuleID
        var rule: FaultRule
        var random: SplitMix64
        var seen = 0
        var fired = 0
        var successes = 0
    }

    struct State {
        var rules: [RuleState] = []
        var nextRule = 0
        var calls = 0
        var injected = 0
        var log: [FaultRecord] = []
    }

    /// What one call gets: the total delay and the error fault, if any.
    struct Plan {
        var delay: Duration = .zero
        var fault: Fault?
        var passed: [FaultRuleID] = []
    }

    private let state = Mutex(State())
    private let seed: UInt64
    private let logLimit: Int
    private let now: @Sendable () -> Duration
    private let sleep: @Sendable (Duration) async throws -> Void

    /// Creates an injector with no rules, on a clock.
    /// - Parameters:
    ///   - seed: the seed of every probability and jitter draw.
    ///   - clock: the clock for delays, timeouts and windows (a ``ManualClock`` in tests).
    ///   - logLimit: how many records ``log`` keeps.
    public init<C: Clock>(seed: UInt64 = 0, clock: C, logLimit: Int = 10_000) where C.Duration == Duration {
        let origin = clock.now
        self.seed = seed
        self.logLimit = logLimit
        self.now = { origin.duration(to: clock.now) }
        self.sleep = { try await clock.sleep(for: $0) }
    }

    /// Creates an injector with no rules, on the real `ContinuousClock`.
    /// - Parameters:
    ///   - seed: the seed of every probability and jitter draw.
    ///   - logLimit: how many records ``log`` keeps.
    public convenience init(seed: UInt64 = 0, logLimit: Int = 10_000) {
        self.init(seed: seed, clock: ContinuousClock(), logLimit: logLimit)
    }

    // MARK: Script

    /// Adds a rule after the existing ones.
    /// - Returns: the rule's identifier.
    @discardableResult
    public func add(_ rule: FaultRule) -> FaultRuleID {
        state.withLock { s in
            let id = FaultRuleID(rawValue: s.nextRule)
            s.nextRule += 1
            // Each rule draws from its own stream: the injector's seed mixed with the rule number.
            var mixer = SplitMix64(seed: seed ^ (UInt64(id.rawValue) &* 0xD1B5_4A32_D192_ED03))
            s.rules.append(RuleState(id: id, rule: rule, random: SplitMix64(seed: mixer.next())))
            return id
        }
    }

    /// Adds a rule: inject `fault` into operations in `scope`, on `schedule`.
    /// - Returns: the rule's identifier.
    @discardableResult
    public func inject(
        _ fault: Fault, on scope: FaultScope = .everything, schedule: FaultSchedule = .always,
        limit: Int? = nil, label: String? = nil
    ) -> FaultRuleID {
        add(FaultRule(fault, scope: scope, schedule: schedule, limit: limit, label: label))
    }

    /// Removes a rule; calls already delayed by it finish as planned.
    public func remove(_ id: FaultRuleID) {
        state.withLock { $0.rules.removeAll { $0.id == id } }
    }

    /// Removes every rule: from now on the injector lets everything through.
    public func removeAll() {
        state.withLock { $0.rules.removeAll() }
    }

    // MARK: Inspection

    /// What was injected, oldest first (at most `logLimit` records).
    public var log: [FaultRecord] { state.withLock { $0.log } }

    /// How many faults were injected in all, including ones past the log's limit.
    public var injectedCount: Int { state.withLock { $0.injected } }

    /// How many operations the injector has seen.
    public var calls: Int { state.withLock { $0.calls } }

    /// How many times a rule has fired (0 for a removed or unknown rule).
    public func injections(of id: FaultRuleID) -> Int {
        state.withLock { s in s.rules.first { $0.id == id }?.fired ?? 0 }
    }

    /// The records of one rule.
    public func log(of id: FaultRuleID) -> [FaultRecord] {
        log.filter { $0.rule == id }
    }

    /// Empties the log and resets ``injectedCount``; rules keep their counters.
    public func clearLog() {
        state.withLock { s in
            s.log.removeAll()
            s.injected = 0
        }
    }

    // MARK: Middleware

    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let plan = self.plan(for: operation, route: context.route ?? CacheRoute.current)
        guard let plan else { return try await next(operation, context) }
        if plan.delay > .zero { try await wait(plan.delay) }
        if let fault = plan.fault {
            return try await apply(fault, to: operation, context: context, next: next)
        }
        let reply = try await next(operation, context)
        if !plan.passed.isEmpty { recordSuccess(plan.passed) }
        return reply
    }

    /// Decides what this call gets, under the lock. `nil` when no rule is in scope.
    private func plan(for operation: CacheOperation, route: String?) -> Plan? {
        let kind = FaultOperationKind(operation)
        return state.withLock { s -> Plan? in
            s.calls += 1
            guard !s.rules.isEmpty else { return nil }
            let call = s.calls
            var plan: Plan?
            var clockNow: Duration?
            for index in s.rules.indices {
                let rule = s.rules[index].rule
                guard rule.scope.matches(operation, kind: kind, route: route) else { continue }
                if case .partialPipeline(let reply, _) = rule.fault, Self.batchSize(operation) <= reply { continue }
                if let limit = rule.limit, s.rules[index].fired >= limit { continue }
                if plan == nil { plan = Plan() }
                s.rules[index].seen += 1
                let fires: Bool
                switch rule.schedule {
                case .always: fires = true
                case .everyNth(let n): fires = s.rules[index].seen % n == 0
                case .probability(let p): fires = s.rules[index].random.nextUnit() < p
                case .window(let from, let until):
                    let t = clockNow ?? now()
                    clockNow = t
                    fires = from <= t && t < until
                case .afterSuccesses(let k): fires = s.rules[index].successes >= k
                }
                guard fires, rule.fault.isDelay || plan?.fault == nil else {
                    if !fires { plan?.passed.append(s.rules[index].id) }
                    continue
                }
                var delay: Duration?
                switch rule.fault {
                case .latency(let d): delay = d
                case .jitter(let lo, let hi):
                    let span = Double((hi - lo).nanoseconds)
                    delay = lo + .nanoseconds(Int64(span * s.rules[index].random.nextUnit()))
                default: plan?.fault = rule.fault
                }
                if let delay { plan?.delay += delay }
                s.rules[index].fired += 1
                s.injected += 1
                if s.log.count < logLimit {
                    let t = clockNow ?? now()
                    clockNow = t
                    s.log.append(
                        FaultRecord(
                            call: call, rule: s.rules[index].id, label: rule.label, fault: rule.fault, operation: kind,
                            key: operation.primaryKey?.preview(), route: route, at: t, delay: delay
                        ))
                }
            }
            return plan
        }
    }

    private func recordSuccess(_ rules: [FaultRuleID]) {
        state.withLock { s in
            for index in s.rules.indices where rules.contains(s.rules[index].id) {
                s.rules[index].successes += 1
            }
        }
    }

    private func wait(_ delay: Duration) async throws(CacheError) {
        do {
            try await sleep(delay)
        } catch {
            throw CacheError(.cancelled, "cancelled while an injected delay ran", underlying: error)
        }
    }

    /// Applies an error fault.
    private func apply(
        _ fault: Fault, to operation: CacheOperation, context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch fault {
        case .timeout(let after, let executed):
            if executed { _ = try? await next(operation, context) }
            try await wait(after)
        case .connectionReset(let executed):
            if executed { _ = try? await next(operation, context) }
        case .partialPipeline(let reply, let inner):
            let count = Self.batchSize(operation)
            switch operation {
            case .mset(var pairs, let ttl):
                pairs.remove(at: reply)
                if !pairs.isEmpty { _ = try await next(.mset(pairs, ttl: ttl), context) }
            case .msetReturningHeads(var pairs, let ttl, let headBytes):
                pairs.remove(at: reply)
                if !pairs.isEmpty { _ = try await next(.msetReturningHeads(pairs, ttl: ttl, headBytes: headBytes), context) }
            default:
                _ = try await next(operation, context)
            }
            if case .timeout(let after, _) = inner { try await wait(after) }
            var error = inner.error ?? CacheError(.other, "injected")
            error.message = "reply \(reply) of \(count): \(error.message)"
            throw error
        default:
            break
        }
        throw fault.error ?? CacheError(.other, "injected \(fault)")
    }

    private static func batchSize(_ operation: CacheOperation) -> Int {
        switch operation {
        case .mget(let keys): keys.count
        case .mset(let pairs, _), .msetReturningHeads(let pairs, _, _): pairs.count
        default: 0
        }
    }
}
