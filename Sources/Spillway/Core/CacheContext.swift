public import Logging

/// Per-operation context that travels down the chain with each operation.
public struct CacheContext: Sendable {
    /// The route or job the operation runs for (`"POST /orders/upload"`, `"job:resize"`).
    public var route: String?
    /// The logger to use. Spillway never creates its own handler.
    public var logger: Logger
    /// When the operation must be finished by; backends turn this into a timeout.
    public var deadline: ContinuousClock.Instant?
    /// Where the caller is, for strict mode and error messages.
    public var callSite: CallSite
    /// The policy resolved for this operation (route, then key prefix, over the defaults).
    public var policy: CachePolicy
    /// The whole table, for middleware that must resolve per key (multi-key operations).
    public var policies: PolicyTable
    /// What the backend at the end of the chain can do (``GuardedCache`` fills it in from its
    /// client), so middleware can pick the best strategy, e.g. `SET … GET` to release a blob.
    public var capabilities: CacheCapabilities

    /// Creates a context.
    @inlinable
    public init(
        route: String? = nil,
        logger: Logger = CacheContext.disabledLogger,
        deadline: ContinuousClock.Instant? = nil,
        callSite: CallSite = CallSite(),
        policy: CachePolicy = CachePolicy(),
        policies: PolicyTable = PolicyTable(),
        capabilities: CacheCapabilities = CacheCapabilities()
    ) {
        self.route = route
        self.logger = logger
        self.deadline = deadline
        self.callSite = callSite
        self.policy = policy
        self.policies = policies
        self.capabilities = capabilities
    }

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
