import NIOCore
import Spillway
import SpillwayTesting
import Synchronization
import Testing

@Suite("Middleware chain")
struct ChainTests {
    final class Trace: Sendable {
        let events = Mutex<[String]>([])
        func add(_ e: String) { events.withLock { $0.append(e) } }
        var all: [String] { events.withLock { $0 } }
    }

    struct Tag: CacheMiddleware {
        let name: String
        let trace: Trace
        func handle(
            _ operation: CacheOperation, context: CacheContext,
            next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
        ) async throws(CacheError) -> CacheReply {
            trace.add("\(name)↓")
            let r = try await next(operation, context)
            trace.add("\(name)↑")
            return r
        }
    }

    /// Answers gets itself, never calling the backend.
    struct ShortCircuit: CacheMiddleware {
        func handle(
            _ operation: CacheOperation, context: CacheContext,
            next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
        ) async throws(CacheError) -> CacheReply {
            if case .get = operation { return .value(ByteBuffer(string: "short")) }
            return try await next(operation, context)
        }
    }

    @Test("the builder runs middleware top to bottom on the way down, reversed on the way up")
    func ordering() async throws {
        let trace = Trace()
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            Tag(name: "A", trace: trace)
            Tag(name: "B", trace: trace)
            Tag(name: "C", trace: trace)
        }
        _ = try await cache.get("k")
        #expect(trace.all == ["A↓", "B↓", "C↓", "C↑", "B↑", "A↑"])
    }

    @Test("the dynamic group runs in the same order as the static chain")
    func group() async throws {
        let trace = Trace()
        let group = CacheMiddlewareGroup([Tag(name: "1", trace: trace), Tag(name: "2", trace: trace)])
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            group
            Tag(name: "3", trace: trace)
        }
        _ = try await cache.exists("k")
        #expect(trace.all == ["1↓", "2↓", "3↓", "3↑", "2↑", "1↑"])
    }

    @Test("a middleware may answer without reaching the backend; later ones never run")
    func shortCircuit() async throws {
        let trace = Trace()
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            ShortCircuit()
            Tag(name: "after", trace: trace)
        }
        #expect(try await cache.get("k") == ByteBuffer(string: "short"))
        #expect(trace.all.isEmpty)
        try await cache.set("k", value: ByteBuffer(string: "v"))
        #expect(trace.all == ["after↓", "after↑"])
    }

    @Test("the key guard runs before later middleware, which see the rewritten key")
    func guardFirst() async throws {
        struct KeySpy: CacheMiddleware {
            let trace: Trace
            func handle(
                _ operation: CacheOperation, context: CacheContext,
                next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
            ) async throws(CacheError) -> CacheReply {
                trace.add(String(operation.primaryKey?.count ?? -1))
                return try await next(operation, context)
            }
        }
        let trace = Trace()
        let spy = KeySpy(trace: trace)
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            KeyGuard()
            spy
        }
        _ = try await cache.get(CacheKey(String(repeating: "z", count: 5000)))
        #expect(trace.all == [String(40 + KeyHasher.suffixBytes)])
    }

    @Test("the route reaches middleware from the argument or the task-local")
    func route() async throws {
        struct RouteSpy: CacheMiddleware {
            let trace: Trace
            func handle(
                _ operation: CacheOperation, context: CacheContext,
                next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
            ) async throws(CacheError) -> CacheReply {
                trace.add(context.route ?? "none")
                return try await next(operation, context)
            }
        }
        let trace = Trace()
        let spy = RouteSpy(trace: trace)
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) { spy }
        _ = try await cache.get("a", route: "GET /a")
        try await CacheRoute.$current.withValue("POST /b") { _ = try await cache.get("b") }
        _ = try await cache.get("c")
        #expect(trace.all == ["GET /a", "POST /b", "none"])
    }
}
