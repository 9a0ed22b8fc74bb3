import ArgumentParser
import Foundation
import SpillwayTesting

/// `spillway bench xxhash`: XXH3-128 throughput on a 10 KB key, as a ratio to `xxhsum -b`'s
/// XXH128 figure measured in the same run. Meaningful from a release build only
/// (`scripts/bench-xxhash.sh` builds and runs one).
struct BenchXXHashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xxhash",
        abstract: "Hash a 10 KB key with Spillway's keyed XXH3-128 and compare with `xxhsum -b` (XXH128)."
    )

    @Option(help: "Input size in bytes.") var bytes = 10_240
    @Option(help: "Seconds to measure Spillway's side.") var seconds = 2.0
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let r = try XXH3Comparison.run(bytes: bytes, seconds: seconds)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
        } else {
            print("Spillway keyed XXH3-128, \(bytes) B: \(r.spillwayMBps.rounded1) MB/s")
            print("xxhsum -b XXH128, \(bytes) B:       \(r.xxhsumMBps.rounded1) MB/s (best of two runs around ours)")
            print("ratio: \((r.ratio * 1000).rounded() / 1000) (target ≥ 0.80)")
        }
    }
}
