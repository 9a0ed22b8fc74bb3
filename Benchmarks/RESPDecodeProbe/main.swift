// A plain release executable (not a package-benchmark suite) that decodes one array reply of N
// 5-byte bulk strings, arriving in 64 KiB reads, through RESPReplyReader, as the RedisBenchmarks
// "RESP: …" benchmarks do; for an instruction-counting profiler, which is repeatable on a shared
// machine where wall clock is not:
//
//   SPILLWAY_BENCHMARKS=1 swift build -c release --scratch-path .build-bench --product RESPDecodeProbe
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/resp-200k.out .build-bench/release/RESPDecodeProbe 200000
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/resp-400k.out .build-bench/release/RESPDecodeProbe 400000
//   callgrind_annotate /tmp/resp-400k.out | head -40
//
//   .build-bench/release/RESPDecodeProbe 400000 30     # min and median of 30 decodes
//
// Each decode is timed twice: wall clock, and the CPU time of the decoding thread (user and
// system, so page faults count). On a machine shared with other work, the CPU time is the figure
// to compare: wall clock then mostly measures how long the thread waited for a core.
//
// Arguments: count [repetitions]. With count 0 it decodes nothing (the floor to subtract).
// Valgrind cannot read the DWARF 5 of a Swift 6 release build: give it a copy made with
// `strip --strip-debug` (symbols stay).
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import SpillwayRedis

let arguments = CommandLine.arguments.dropFirst()
let count = arguments.first.flatMap { Int($0) } ?? 200_000
let repetitions = arguments.dropFirst().first.flatMap { Int($0) } ?? 1

var whole = ByteBuffer(string: "*\(count)\r\n")
for _ in 0..<count { whole.writeStaticString("$5\r\nvalue\r\n") }
var reads: [ByteBuffer] = []
while whole.readableBytes > 0 {
    let slice = whole.readSlice(length: min(64 * 1024, whole.readableBytes))!
    reads.append(ByteBuffer(bytes: slice.readableBytesView))
}

if count > 0 {
    // Wall clock and thread CPU time per decode (the reply is dropped outside the timed part, as
    // in RedisBenchmarks): the minimum and the median of the repetitions, in microseconds.
    func threadCPU() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
    }
    var wall: [Duration] = []
    var cpu: [Duration] = []
    let clock = ContinuousClock()
    for _ in 0..<repetitions {
        var reader = RESPReplyReader(decoder: RESPDecoder())
        var reply: RESPValue?
        let start = clock.now
        let startCPU = threadCPU()
        for read in reads {
            reader.append(read)
            if let value = try reader.next() { reply = value }
        }
        cpu.append(threadCPU() - startCPU)
        wall.append(clock.now - start)
        precondition(reply?.elements?.count == count, "the reply did not decode whole")
    }
    wall.sort()
    cpu.sort()
    func µs(_ d: Duration) -> Int64 { d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000 }
    print(
        "\(count) elements, \(reads.count) reads, \(repetitions) decodes: wall min \(µs(wall[0])) µs, median \(µs(wall[wall.count / 2])) µs; "
            + "CPU min \(µs(cpu[0])) µs, median \(µs(cpu[cpu.count / 2])) µs"
    )
}
