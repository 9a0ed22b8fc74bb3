import Foundation
package import Spillway

/// Measures Spillway's keyed XXH3-128 against `xxhsum -b`'s XXH128 on the same machine, in the
/// same run: `xxhsum` runs before and after Spillway's measurement, and the better of its two
/// figures is the reference (the least favourable ratio for Spillway).
package enum XXH3Comparison {
    /// The figures of one comparison.
    package struct Result: Sendable, Codable {
        /// Input size in bytes.
        package var bytes: Int
        /// Spillway's keyed XXH3-128, in MB/s (10^6 bytes).
        package var spillwayMBps: Double
        /// `xxhsum -b` XXH128, in MB/s.
        package var xxhsumMBps: Double
        /// `spillwayMBps / xxhsumMBps`.
        package var ratio: Double
    }

    /// Runs the comparison.
    /// - Parameters:
    ///   - bytes: the input size (the case: a 10 KB key).
    ///   - seconds: how long to measure Spillway's side.
    /// - Throws: `CacheError` `.unsupported` when `xxhsum` is missing or prints nothing usable.
    package static func run(bytes: Int = 10_240, seconds: Double = 2) throws(CacheError) -> Result {
        let input = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial)
        let before = try xxhsumXXH128MBps(bytes: bytes)
        let ours = input.withUnsafeBytes { raw in measure(seconds: seconds, bytes: bytes) { XXH3.hash128(raw, secret: secret).low } }
        let after = try xxhsumXXH128MBps(bytes: bytes)
        let reference = max(before, after)
        return Result(bytes: bytes, spillwayMBps: ours, xxhsumMBps: reference, ratio: ours / reference)
    }

    /// Best throughput of five rounds, timed in this thread's CPU time. `xxhsum -b` times itself
    /// in CPU time (`clock()`), so both sides are immune in the same way to other processes
    /// competing for the cores of a shared machine.
    static func measure(seconds: Double, bytes: Int, _ body: () -> UInt64) -> Double {
        var best = 0.0
        var sink: UInt64 = 0
        for _ in 0..<5 {
            var n = 0
            let start = cpuSeconds()
            var elapsed = 0.0
            while elapsed < seconds / 5 {
                for _ in 0..<256 { sink &+= body() }
                n += 256
                elapsed = cpuSeconds() - start
            }
            best = max(best, Double(n * bytes) / elapsed / 1e6)
        }
        if sink == 0x5EED { print("", terminator: "") }
        return best
    }

    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// `xxhsum -b11 -B<bytes>` (XXH128 is algorithm 11 in xxhsum 0.8's list): its MB/s figure.
    static func xxhsumXXH128MBps(bytes: Int) throws(CacheError) -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["xxhsum", "-b11", "-B\(bytes)", "-i3"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw CacheError(.unsupported, "cannot run xxhsum (install the Debian package xxhash)", underlying: error)
        }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Lines look like " 11#XXH128   :   10240 ->  4206192 it/s (41076.1 MB/s)"; keep the last.
        let figures = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).compactMap { line -> Double? in
            guard line.contains("XXH128"), let open = line.lastIndex(of: "("),
                let mb = line.range(of: "MB/s", range: open..<line.endIndex)
            else { return nil }
            return Double(line[line.index(after: open)..<mb.lowerBound].trimmingCharacters(in: .whitespaces))
        }
        guard process.terminationStatus == 0, let value = figures.last else {
            throw CacheError(.unsupported, "could not read xxhsum -b output: \(text.suffix(300))")
        }
        return value
    }
}
