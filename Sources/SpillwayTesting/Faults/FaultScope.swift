import NIOCore
import Spillway

/// Which operations a fault rule applies to: by kind, by key prefix and by route. Every
/// condition given must hold; `nil` means "any".
///
/// The injector sits near the backend, after ``KeyGuard`` has rewritten long keys, so a prefix
/// is matched against the key the backend would see. Hashed keys keep their readable prefix, so
/// prefix scopes still work on them.
public struct FaultScope: Sendable, Hashable {
    /// The operation kinds in scope.
    public var operations: Set<FaultOperationKind>
    /// The key prefix in scope, as UTF-8 bytes. A multi-key operation is in scope when any of its
    /// keys has the prefix.
    public var keyPrefix: String? {
        didSet { prefixBytes = keyPrefix.map { Array($0.utf8) } }
    }
    /// The route in scope (exact match), from ``CacheContext/route`` or else ``CacheRoute/current``.
    public var route: String?
    /// ``keyPrefix`` as bytes, computed once.
    private var prefixBytes: [UInt8]?

    /// Creates a scope.
    /// - Parameters:
    ///   - operations: the kinds in scope; all of them by default.
    ///   - keyPrefix: a key prefix, or `nil` for any key.
    ///   - route: a route, or `nil` for any route (and for none).
    public init(operations: Set<FaultOperationKind> = FaultOperationKind.all, keyPrefix: String? = nil, route: String? = nil) {
        self.operations = operations
        self.keyPrefix = keyPrefix
        self.prefixBytes = keyPrefix.map { Array($0.utf8) }
        self.route = route
    }

    /// Every operation.
    public static let everything = FaultScope()
    /// The writes Redis refuses under OOM.
    public static let writes = FaultScope(operations: FaultOperationKind.writes)
    /// The reads.
    public static let reads = FaultScope(operations: FaultOperationKind.reads)

    /// Only the given kinds.
    public static func only(_ kinds: FaultOperationKind...) -> FaultScope { FaultScope(operations: Set(kinds)) }
    /// Only keys with this prefix.
    public static func keys(prefix: String, operations: Set<FaultOperationKind> = FaultOperationKind.all) -> FaultScope {
        FaultScope(operations: operations, keyPrefix: prefix)
    }
    /// Only this route.
    public static func route(_ route: String, operations: Set<FaultOperationKind> = FaultOperationKind.all) -> FaultScope {
        FaultScope(operations: operations, route: route)
    }

    /// Whether an operation is in scope.
    func matches(_ operation: CacheOperation, kind: FaultOperationKind, route currentRoute: String?) -> Bool {
        guard operations.contains(kind) else { return false }
        if let route, route != currentRoute { return false }
        guard let prefix = prefixBytes else { return true }
        func has(_ key: CacheKey) -> Bool {
            key.count >= prefix.count && key.bytes.readableBytesView.prefix(prefix.count).elementsEqual(prefix)
        }
        switch operation {
        case .mget(let keys): return keys.contains(where: has)
        case .mset(let pairs, _), .msetReturningHeads(let pairs, _, _): return pairs.contains { has($0.key) }
        default: return operation.primaryKey.map(has) ?? false
        }
    }
}
