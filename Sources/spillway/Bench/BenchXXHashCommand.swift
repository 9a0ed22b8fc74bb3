import ArgumentParser
import Foundation
import Spillway

/// `spillway bench xxhash`: XXH3-128 throughput on a 10 KB key, as a ratio to `xxhsum -b`'s
/// XXH128 figure measured in the same run.
struct BenchXXHashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xxhash",
        abstract: "Hash a 10 KB key with Spillway's keyed XXH3-128 and compare with `xxhsum -b` (XXH128)."
    )

    @Option(help: "Input size in bytes.") var bytes = 10_240
    @Option(help: "Seconds to measure Spillway's side.") var seconds = 2.0
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let input = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial)
        let reference = try Self.xxhsumXXH128MBps(bytes: bytes)
        let ours = Self.measure(seconds: seconds, bytes: bytes) { input.withUnsafeBytes { XXH3.hash128($0, secret: secret).low } }
        let reference2 = try Self.xxhsumXXH128MBps(bytes: bytes)
        let ref = max(reference, reference2)
        let ratio = ours / ref
        if json {
            print(#"{"spillway_mb_per_s": \#(ours.rounded1), "xxhsum_mb_per_s": \#(ref.rounded1), "ratio": \#((ratio * 1000).rounded() / 1000)}"#)
        } else {
            print("Spillway keyed XXH3-128, \(bytes) B: \(ours.rounded1) MB/s")
            print("xxhsum -b XXH128, \(bytes) B:       \(ref.rounded1) MB/s (best of two runs around ours)")
            print("ratio: \((ratio * 1000).rounded() / 1000) (target ≥ 0.80)")
        }
    }

    static func measure(seconds: Double, bytes: Int, _ body: () -> UInt64) -> Double {
        let clock = ContinuousClock()
        var best = 0.0
        for _ in 0..<5 {
            var sink: UInt64 = 0
            var n = 0
            let start = clock.now
            let budget = Duration.seconds(seconds / 5)
            while start.duration(to: clock.now) < budget {
                for _ in 0..<256 { sink &+= body() }
                n += 256
            }
            let (s, a) = start.duration(to: clock.now).components
            let elapsed = Double(s) + Double(a) / 1e18
            best = max(best, Double(n * bytes) / elapsed / 1e6)
            if sink == 42 { print("") }
        }
        return best
    }

    /// Runs `xxhsum -b11 -B<bytes>` and reads its MB/s for XXH128 (algorithm 11 in xxhsum 0.8.1's list).
    static func xxhsumXXH128MBps(bytes: Int) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["xxhsum", "-b\(XXHSumIDs.xxh128)", "-B\(bytes)", "-i3"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        // Lines look like: " 2#XXH128   :   10240 ->   123456 it/s ( 1205.6 MB/s)"; keep the last figure.
        let figures = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).compactMap { line -> Double? in
            guard line.contains("XXH128"), let open = line.lastIndex(of: "("), let mb = line.range(of: "MB/s", range: open..<line.endIndex) else { return nil }
            return Double(line[line.index(after: open)..<mb.lowerBound].trimmingCharacters(in: .whitespaces))
        }
        guard let value = figures.last, process.terminationStatus == 0 else {
            throw ValidationError("could not read xxhsum -b output (is the Debian package xxhash installed?): \(text.suffix(300))")
        }
        return value
    }

    enum XXHSumIDs {
        static let xxh128 = 11
    }
}
