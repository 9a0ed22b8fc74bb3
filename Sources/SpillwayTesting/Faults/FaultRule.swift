/// A fault, where it applies, and when: one line of a fault script.
public struct FaultRule: Sendable, Hashable, CustomStringConvertible {
    /// What to inject.
    public var fault: Fault
    /// Which operations it applies to.
    public var scope: FaultScope
    /// When it fires among the operations in scope.
    public var schedule: FaultSchedule
    /// The most times it fires; `nil` for no limit. `limit: 1` makes a one-shot fault.
    public var limit: Int?
    /// A name for the log and for assertions.
    public var label: String?

    /// Creates a rule.
    /// - Parameters:
    ///   - fault: what to inject.
    ///   - scope: which operations; all by default.
    ///   - schedule: when; every call in scope by default.
    ///   - limit: the most injections, or `nil`.
    ///   - label: a name for the log.
    /// - Precondition: `everyNth` is at least 1, a probability is in `0...1`, `afterSuccesses`
    ///   is at least 0, a jitter's bounds are ordered, and a partial failure wraps an error
    ///   fault at a reply index of at least 0. These are mistakes in the test, not run-time
    ///   conditions.
    public init(_ fault: Fault, scope: FaultScope = .everything, schedule: FaultSchedule = .always, limit: Int? = nil, label: String? = nil) {
        switch schedule {
        case .everyNth(let n): precondition(n >= 1, "FaultSchedule.everyNth needs n >= 1")
        case .probability(let p): precondition((0...1).contains(p), "FaultSchedule.probability needs 0 <= p <= 1")
        case .afterSuccesses(let k): precondition(k >= 0, "FaultSchedule.afterSuccesses needs k >= 0")
        case .window(let from, let until): precondition(from <= until, "FaultSchedule.window needs from <= until")
        case .always: break
        }
        switch fault {
        case .jitter(let lo, let hi): precondition(lo <= hi && lo >= .zero, "Fault.jitter needs 0 <= low <= high")
        case .latency(let d): precondition(d >= .zero, "Fault.latency needs a delay >= 0")
        case .timeout(let d, _): precondition(d >= .zero, "Fault.timeout needs a delay >= 0")
        case .partialPipeline(let n, let inner):
            precondition(n >= 0, "Fault.partialPipeline needs reply >= 0")
            precondition(inner.isError, "Fault.partialPipeline must wrap an error fault")
        default: break
        }
        self.fault = fault
        self.scope = scope
        self.schedule = schedule
        self.limit = limit
        self.label = label
    }

    public var description: String {
        var text = "\(fault) on \(scope.operations.map(\.rawValue).sorted().joined(separator: ","))"
        if let p = scope.keyPrefix { text += " prefix \(p)" }
        if let r = scope.route { text += " route \(r)" }
        text += ", \(schedule)"
        if let limit { text += ", at most \(limit)" }
        return text
    }
}
