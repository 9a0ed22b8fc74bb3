import Benchmark
import NIOCore
import Spillway

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.instructions, .mallocCountTotal, .wallClock], maxDuration: .seconds(2))
}
