/// One fault that a ``FaultInjector`` injected: an entry of its log.
public struct FaultRecord: Sendable, Hashable, CustomStringConvertible {
    /// The injector's call number (1 for the first operation it saw, in scope or not).
    public var call: Int
    /// The rule's identifier, as ``FaultInjector/add(_:)`` returned it.
    public var rule: FaultRuleID
    /// The rule's label, if it has one.
    public var label: String?
    /// What was injected.
    public var fault: Fault
    /// The operation's kind.
    public var operation: FaultOperationKind
    /// A short preview of the operation's first key (never a whole oversized key).
    public var key: String?
    /// The route the operation ran for.
    public var route: String?
    /// When it was injected, on the injector's clock, since the injector was created.
    public var at: Duration
    /// For latency and jitter: the delay actually applied.
    public var delay: Duration?

    /// Creates a record.
    public init(
        call: Int, rule: FaultRuleID, label: String?, fault: Fault, operation: FaultOperationKind,
        key: String?, route: String?, at: Duration, delay: Duration? = nil
    ) {
        self.call = call
        self.rule = rule
        self.label = label
        self.fault = fault
        self.operation = operation
        self.key = key
        self.route = route
        self.at = at
        self.delay = delay
    }

    public var description: String {
        "#\(call) \(operation) \(key ?? "-")\(route.map { " [\($0)]" } ?? ""): \(label ?? fault.description) at \(at)"
    }
}
