public import Hummingbird
public import Spillway
public import Logging
import NIOCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Hummingbird `PersistDriver` that stores through a Spillway ``GuardedCache``, so an existing
/// app adopts Spillway in one line:
///
/// ```swift
/// let persist = SpillwayPersistDriver(wrapping: MemoryPersistDriver(), policies: table)
/// ```
///
/// Keys pass the key guard (long keys are hashed, never sent whole), values the limits, and
/// failures the degradation ladder. Values are JSON-encoded. No write claims a success it did
/// not have:
///
/// | outcome | `set` | `create` |
/// |---|---|---|
/// | stored | returns | returns |
/// | condition not met | — | `PersistError.duplicate` |
/// | dropped (shed) | throws ``CacheError`` with the drop's code | throws |
/// | kept locally (fallback) | returns (this process reads it back) | throws (a local copy is no lock) |
///
/// Hummingbird's `PersistDriver.set` returns nothing, so a thrown typed error is the only way
/// it can report a drop; callers that would rather look at the outcome use
/// ``setReportingOutcome(key:value:expires:)``, which never throws for a drop. Either way, when
/// a `set` is dropped its previous value has been deleted (best effort), so a later `get`
/// misses instead of returning the value the `set` meant to replace.
public struct SpillwayPersistDriver<Client: CacheClient, Chain: CacheMiddleware>: PersistDriver {
    /// The guarded cache that values go through.
    public let cache: GuardedCache<Client, Chain>

    /// Stores through an existing guarded cache.
    /// - Parameter cache: the cache.
    public init(cache: GuardedCache<Client, Chain>) {
        self.cache = cache
    }

    /// Creates a key only if it does not exist.
    /// - Throws: `PersistError.duplicate` when it exists; ``CacheError`` when the value was not
    ///   stored in the shared cache (dropped or kept only locally).
    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let outcome = try await cache.set(CacheKey(key), value: try Self.encode(value), expiry: expires.map(Expiry.after) ?? Expiry.none, condition: .ifNotExists)
        switch outcome {
        case .stored:
            return
        case .conditionNotMet:
            throw PersistError.duplicate
        case .dropped(let code), .storedLocally(let code):
            throw CacheError(code, "create of \"\(CacheKey(key).preview())\" was not stored in the shared cache")
        }
    }

    /// Sets a key (with no `expires`, the key keeps the expiry it has, as Hummingbird's
    /// drivers do).
    /// - Throws: ``CacheError`` with the drop's code (`.outOfMemory`, `.connection`, ...) when
    ///   the degradation ladder dropped the write: the value is not cached, and the previous one
    ///   was deleted. ``CacheError`` when the route's policy says `fail`, or on a policy rejection.
    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let outcome = try await setReportingOutcome(key: key, value: value, expires: expires)
        if case .dropped(let code) = outcome {
            throw CacheError(code, "set of \"\(CacheKey(key).preview())\" was dropped (not cached) by the route's degradation policy")
        }
    }

    /// Sets a key and reports what happened to the write, without throwing for a drop.
    /// - Returns: `.stored`, `.storedLocally` (kept in this process's fallback store) or
    ///   `.dropped` (not cached; the previous value was deleted, best effort).
    /// - Throws: ``CacheError`` when the route's policy says `fail`, or on a policy rejection.
    public func setReportingOutcome<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws -> WriteOutcome {
        try await cache.set(CacheKey(key), value: try Self.encode(value), expiry: expires.map(Expiry.after) ?? Expiry.keep)
    }

    /// Reads a key.
    /// - Throws: `PersistError.invalidConversion` when the stored value is not an `Object`;
    ///   ``CacheError`` when the cache cannot be read.
    public func get<Object: Codable & Sendable>(key: String, as: Object.Type) async throws -> Object? {
        guard let bytes = try await cache.get(CacheKey(key)) else { return nil }
        do {
            return try JSONDecoder().decode(Object.self, from: Data(bytes.readableBytesView))
        } catch {
            throw PersistError.invalidConversion
        }
    }

    /// Removes a key.
    /// - Throws: ``CacheError`` when the cache cannot be written.
    public func remove(key: String) async throws {
        try await cache.delete(CacheKey(key))
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }
}

/// The chain ``SpillwayPersistDriver/init(wrapping:policies:hasher:degrade:logger:)`` builds:
/// key guard, then limits, then the degradation ladder.
public typealias SpillwayPersistChain = _CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, Degrade<ContinuousClock>>

extension SpillwayPersistDriver {
    /// Wraps an existing persist driver in Spillway's default chain: the one-line adoption.
    /// - Parameters:
    ///   - base: the driver the app uses today (`MemoryPersistDriver`, a Redis or Postgres one).
    ///   - policies: the policy table.
    ///   - hasher: the key hasher (carries the deployment secret).
    ///   - degrade: the degradation middleware (a fallback store, breaker or monitor).
    ///   - logger: the logger for middleware.
    public init<Base: PersistDriver>(
        wrapping base: Base, policies: PolicyTable = PolicyTable(), hasher: KeyHasher = KeyHasher(),
        degrade: Degrade<ContinuousClock> = Degrade(), logger: Logger = CacheContext.disabledLogger
    ) where Client == PersistDriverClient<Base, ContinuousClock>, Chain == SpillwayPersistChain {
        self.init(
            cache: GuardedCache(client: PersistDriverClient(base), policies: policies, logger: logger) {
                KeyGuard(hasher: hasher)
                LimitsGuard()
                degrade
            })
    }
}
