import Benchmark
import NIOCore
import Spillway

#if canImport(Glibc)
import Glibc
#endif

// Two questions, answered in one run:
// 1. Does ValueSpill add any allocation to a value that is not spilled? Compare the malloc counts
//    of "guard path" and "guard + spill path" (SET then GET of a 100-byte value on MemoryCache).
// 2. How fast is SET+GET of 1 MiB through FileBlobStore, against writing and reading the same
//    bytes to a file directly (with fsync, the same durability, and without)?

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.instructions, .mallocCountTotal, .wallClock, .throughput], maxDuration: .seconds(2))

    let small = ByteBuffer(repeating: 0x61, count: 100)
    let policies = PolicyTable(defaults: CachePolicy(spillAbove: 512 * 1024))

    Benchmark("guard path: SET+GET 100 B (KeyGuard, LimitsGuard)") { benchmark in
        let cache = GuardedCache(client: MemoryCache(), policies: policies) {
            KeyGuard()
            LimitsGuard()
        }
        try await cache.set("bench:small", value: small)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await cache.set("bench:small", value: small)
            blackHole(try await cache.get("bench:small"))
        }
    }

    Benchmark("guard + spill path: SET+GET 100 B (KeyGuard, LimitsGuard, ValueSpill)") { benchmark in
        let cache = GuardedCache(client: MemoryCache(), policies: policies) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: MemoryBlobStore())
        }
        try await cache.set("bench:small", value: small)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await cache.set("bench:small", value: small)
            blackHole(try await cache.get("bench:small"))
        }
    }

    let mib = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
    let fileConfig = Benchmark.Configuration(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))

    Benchmark("FileBlobStore: SET+GET 1 MiB through ValueSpill", configuration: fileConfig) { benchmark in
        let store = try FileBlobStore.temporary(name: "bench")
        defer { try? store.removeAll() }
        let cache = GuardedCache(client: MemoryCache(), policies: policies) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: store)
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await cache.set("bench:mib", value: mib)
            blackHole(try await cache.get("bench:mib"))
        }
        benchmark.stopMeasurement()
        let check = try await cache.get("bench:mib")
        precondition(check == mib)
    }

    for sync in [true, false] {
        Benchmark("direct file: write\(sync ? "+fsync" : "")+read 1 MiB", configuration: fileConfig) { benchmark in
            let store = try FileBlobStore.temporary(name: "bench")
            defer { try? store.removeAll() }
            var n = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                // A new file each time, as the store writes one per blob, and the previous one
                // removed, as an overwrite releases the old blob.
                n += 1
                let path = store.root + "/tmp/direct-\(n).bin"
                blackHole(directWriteRead(mib, path: path, sync: sync))
                if n > 1 { unlink(store.root + "/tmp/direct-\(n - 1).bin") }
            }
            benchmark.stopMeasurement()
            unlink(store.root + "/tmp/direct-\(n).bin")
        }
    }
}

/// Writes `bytes` to a new file at `path` (optionally fsynced), then reads them back.
func directWriteRead(_ bytes: ByteBuffer, path: String, sync: Bool) -> ByteBuffer {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    precondition(fd >= 0)
    bytes.withUnsafeReadableBytes { b in
        var off = 0
        while off < b.count { off += write(fd, b.baseAddress! + off, b.count - off) }
    }
    if sync { fsync(fd) }
    close(fd)
    let rfd = open(path, O_RDONLY)
    precondition(rfd >= 0)
    var out = ByteBufferAllocator().buffer(capacity: bytes.readableBytes)
    while out.readableBytes < bytes.readableBytes {
        let n = out.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { read(rfd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
    }
    close(rfd)
    return out
}
