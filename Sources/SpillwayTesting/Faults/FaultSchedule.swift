/// When a fault rule fires, among the calls in its scope.
///
/// Every schedule is deterministic: call counts are per rule, the probability draws come from the
/// rule's own ``SplitMix64`` stream (seeded from the injector's seed and the rule's position), and
/// windows are read on the injector's clock (a ``ManualClock`` in tests).
public enum FaultSchedule: Sendable, Hashable, CustomStringConvertible {
    /// Every call in scope.
    case always
    /// Calls n, 2n, 3n, … in scope (n ≥ 1).
    case everyNth(Int)
    /// Each call in scope with probability p (0 ≤ p ≤ 1), drawn from the rule's seeded stream.
    case probability(Double)
    /// Calls made while the injector's clock is in `from ..< until`, measured from the moment the
    /// injector was created.
    case window(from: Duration, until: Duration)
    /// Every call in scope once k calls in scope have succeeded (k ≥ 0). A success is a call that
    /// this rule did not fault and that returned without throwing.
    case afterSuccesses(Int)

    public var description: String {
        switch self {
        case .always: "always"
        case .everyNth(let n): "every \(n)th"
        case .probability(let p): "p=\(p)"
        case .window(let from, let until): "window \(from)..<\(until)"
        case .afterSuccesses(let k): "after \(k) successes"
        }
    }
}
