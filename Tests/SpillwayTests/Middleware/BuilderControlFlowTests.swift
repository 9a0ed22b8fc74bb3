import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("Middleware builder control flow")
struct BuilderControlFlowTests {
    typealias Trace = ChainTests.Trace
    typealias Tag = ChainTests.Tag

    /// Answers gets itself, never calling `next`.
    struct Answer: CacheMiddleware {
        let text: String
        func handle(
            _ operation: CacheOperation, context: CacheContext,
            next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
        ) async throws(CacheError) -> CacheReply {
            if case .get = operation { return .value(ByteBuffer(string: text)) }
            return try await next(operation, context)
        }
    }

    func cache(verbose: Bool, names: [String], trace: Trace) -> GuardedCache<MemoryCache<ManualClock>, some CacheMiddleware> {
        GuardedCache(client: MemoryCache(clock: ManualClock())) {
            Tag(name: "first", trace: trace)
            if verbose {
                Tag(name: "verbose", trace: trace)
            } else {
                Tag(name: "quiet", trace: trace)
            }
            for name in names {
                Tag(name: name, trace: trace)
            }
            Tag(name: "last", trace: trace)
        }
    }

    @Test("if/else runs only the branch taken, in its place in the chain")
    func ifElse() async throws {
        for verbose in [true, false] {
            let trace = Trace()
            _ = try await cache(verbose: verbose, names: [], trace: trace).get("k")
            let branch = verbose ? "verbose" : "quiet"
            #expect(trace.all == ["first↓", "\(branch)↓", "last↓", "last↑", "\(branch)↑", "first↑"])
        }
    }

    @Test("for runs each element in loop order; an empty loop passes operations on")
    func loop() async throws {
        let trace = Trace()
        _ = try await cache(verbose: true, names: ["1", "2", "3"], trace: trace).exists("k")
        #expect(trace.all == ["first↓", "verbose↓", "1↓", "2↓", "3↓", "last↓", "last↑", "3↑", "2↑", "1↑", "verbose↑", "first↑"])
        let empty = Trace()
        try await cache(verbose: false, names: [], trace: empty).set("k", value: ByteBuffer(string: "v"))
        #expect(empty.all == ["first↓", "quiet↓", "last↓", "last↑", "quiet↑", "first↑"])
    }

    @Test("an element of a loop that answers stops the rest of the loop and the chain")
    func loopShortCircuit() async throws {
        let trace = Trace()
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            for text in ["a", "b"] { Answer(text: text) }
            Tag(name: "after", trace: trace)
        }
        #expect(try await cache.get("k") == ByteBuffer(string: "a"))
        #expect(trace.all.isEmpty)
    }

    @Test("switch picks one case; the chain is one concrete type, nothing erased")
    func switchAndTypes() async throws {
        enum Mode { case a, b, c }
        for (mode, expected) in [(Mode.a, "A"), (.b, "B"), (.c, "C")] {
            let chain = CacheMiddlewareChain {
                switch mode {
                case .a: Answer(text: "A")
                case .b: Answer(text: "B")
                case .c: Answer(text: "C")
                }
            }
            let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) { chain }
            #expect(try await cache.get("k") == ByteBuffer(string: expected))
        }
        let flag = Bool.random()
        let either = CacheMiddlewareChain {
            if flag { Answer(text: "x") } else { PassthroughMiddleware() }
        }
        #expect(type(of: either) == EitherMiddleware<Answer, PassthroughMiddleware>.self)
        let array = CacheMiddlewareChain {
            for text in ["x"] { Answer(text: text) }
        }
        #expect(type(of: array) == ArrayMiddleware<Answer>.self)
        #expect(array.elements.count == 1)
    }
}
