/// Identifies a rule added to a ``FaultInjector``, to remove it or to count its injections.
public struct FaultRuleID: Sendable, Hashable, CustomStringConvertible {
    /// The rule's number: 0 for the first rule added to an injector, then 1, 2, …
    public let rawValue: Int

    /// Creates an identifier.
    public init(rawValue: Int) { self.rawValue = rawValue }

    public var description: String { "rule \(rawValue)" }
}
