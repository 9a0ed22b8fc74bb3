public import Logging

/// Per-operation context that travels down the chain with each operation.
///
/// Every middleware receives its own copy, so the context is kept small: what is the same for
/// every operation of a ``GuardedCache`` (logger, table, capabilities) and the resolved policy
/// are shared by reference, and a setter that changes one of them makes a private copy
/// (copy-on-write), so changing a context never affects another operation.
public struct CacheContext: Sendable {
    /// The route or job the operation runs for (`"POST /orders/upload"`, `"job:resize"`).
    public var route: String?
    /// Where the caller is, for strict mode and error messages.
    public var callSite: CallSite
    /// The deadline as an offset from ``deadlineEpoch``. `ContinuousClock.Instant` is a
    /// resilient type, so storing one would give the context a layout unknown at compile time
    /// and turn every copy of it, once per middleware, into value-witness calls; `Duration` is
    /// frozen and copies as plain bytes.
    @usableFromInline var deadlineOffset: Duration?
    @usableFromInline var shared: Shared
    @usableFromInline var resolved: ResolvedPolicy

    /// When the operation must be finished by. ``GuardedCache`` enforces it: an operation
    /// still running at its deadline is cancelled and fails with ``CacheError/Code/timeout``.
    /// Middleware may also look at it (to skip work that cannot finish in time).
    public var deadline: ContinuousClock.Instant? {
        get { deadlineOffset.map { Self.deadlineEpoch.advanced(by: $0) } }
        set { deadlineOffset = newValue.map { Self.deadlineEpoch.duration(to: $0) } }
    }
    /// The logger to use. Spillway never creates its own handler.
    public var logger: Logger {
        @inlinable get { shared.logger }
        set { shared = Shared(logger: newValue, policies: shared.policies, capabilities: shared.capabilities) }
    }
    /// The policy resolved for this operation (route, then key prefix, over the defaults).
    public var policy: CachePolicy {
        @inlinable get { resolved.policy }
        set { resolved = ResolvedPolicy(newValue) }
    }
    /// The whole table, for middleware that must resolve per key (multi-key operations).
    public var policies: PolicyTable {
        @inlinable get { shared.policies }
        set { shared = Shared(logger: shared.logger, policies: newValue, capabilities: shared.capabilities) }
    }
    /// What the backend at the end of the chain can do (``GuardedCache`` fills it in from its
    /// client), so middleware can pick the best strategy, e.g. `SET … GET` to release a blob.
    public var capabilities: CacheCapabilities {
        @inlinable get { shared.capabilities }
        set { shared = Shared(logger: shared.logger, policies: shared.policies, capabilities: newValue) }
    }

    /// What every operation of one facade has in common, built once per ``GuardedCache``.
    @usableFromInline
    final class Shared: Sendable {
        @usableFromInline let logger: Logger
        @usableFromInline let policies: PolicyTable
        @usableFromInline let capabilities: CacheCapabilities

        @usableFromInline
        init(logger: Logger, policies: PolicyTable, capabilities: CacheCapabilities) {
            self.logger = logger
            self.policies = policies
            self.capabilities = capabilities
        }
    }

    /// Creates a context.
    public init(
        route: String? = nil,
        logger: Logger = CacheContext.disabledLogger,
        deadline: ContinuousClock.Instant? = nil,
        callSite: CallSite = CallSite(),
        policy: CachePolicy = CachePolicy(),
        policies: PolicyTable = PolicyTable(),
        capabilities: CacheCapabilities = CacheCapabilities()
    ) {
        self.init(
            route: route, callSite: callSite, deadlineOffset: deadline.map { Self.deadlineEpoch.duration(to: $0) },
            shared: Shared(logger: logger, policies: policies, capabilities: capabilities),
            resolved: ResolvedPolicy(policy)
        )
    }

    /// The initializer the facade uses: shared parts by reference, the deadline as an offset.
    @inlinable
    init(route: String?, callSite: CallSite, deadlineOffset: Duration?, shared: Shared, resolved: ResolvedPolicy) {
        self.route = route
        self.callSite = callSite
        self.deadlineOffset = deadlineOffset
        self.shared = shared
        self.resolved = resolved
    }

    /// The reference instant that deadlines are stored relative to (taken once per process).
    @usableFromInline static let deadlineEpoch = ContinuousClock.now

    /// A logger that discards everything: the default when the caller passes none.
    public static let disabledLogger = Logger(label: "spillway", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// A place in the caller's source code.
public struct CallSite: Sendable, Hashable, CustomStringConvertible {
    /// The file, as `#fileID` gives it.
    public var fileID: StaticString
    /// The line.
    public var line: UInt

    /// Captures the caller's file and line.
    @inlinable
    public init(fileID: StaticString = #fileID, line: UInt = #line) {
        self.fileID = fileID
        self.line = line
    }

    public var description: String { "\(fileID):\(line)" }

    public static func == (a: CallSite, b: CallSite) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// The route that cache calls in the current task belong to, set by integrations (the
/// Hummingbird middleware) or by hand, so that call sites need not pass it.
public enum CacheRoute {
    /// The current route, if any.
    @TaskLocal public static var current: String?
}
