import ArgumentParser
import Foundation
import NIOCore
import Spillway
import SpillwayTesting

/// `spillway bench keyguard`: the key guard's cost per operation over a no-op backend.
struct BenchKeyGuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyguard",
        abstract: "Cost of GuardedCache{KeyGuard, LimitsGuard} over calling a no-op client directly (40-byte key)."
    )

    @Option(help: "Operations per measurement.") var iterations = 2_000_000
    @Option(help: "Measurements; the best (least disturbed) is reported.") var rounds = 5
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let key = CacheKey(String(repeating: "k", count: 40))
        let client = NoopCacheClient()
        let cache = GuardedCache(client: client) {
            KeyGuard()
            LimitsGuard()
        }
        var bareBest = Double.infinity
        var guardedBest = Double.infinity
        for _ in 0..<rounds {
            bareBest = min(bareBest, try await Self.nanosPerOp(iterations) { () async throws(CacheError) in _ = try await client.execute(.get(key)) })
            guardedBest = min(guardedBest, try await Self.nanosPerOp(iterations) { () async throws(CacheError) in _ = try await cache.execute(.get(key)) })
        }
        let overhead = guardedBest - bareBest
        if json {
            print(#"{"bare_ns_per_op": \#(bareBest.rounded1), "guarded_ns_per_op": \#(guardedBest.rounded1), "overhead_ns_per_op": \#(overhead.rounded1)}"#)
        } else {
            print("bare no-op client:     \(bareBest.rounded1) ns/op")
            print("GuardedCache+KeyGuard: \(guardedBest.rounded1) ns/op")
            print("overhead:              \(overhead.rounded1) ns/op (target ≤ 100)")
        }
    }

    static func nanosPerOp(_ n: Int, _ body: () async throws(CacheError) -> Void) async throws(CacheError) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<n { try await body() }
        let (s, a) = start.duration(to: clock.now).components
        return (Double(s) * 1e9 + Double(a) / 1e9) / Double(n)
    }
}

extension Double {
    var rounded1: Double { (self * 10).rounded() / 10 }
}
