import ArgumentParser
import Foundation
import NIOCore
import Spillway
import SpillwayRedis

/// `spillway spill put|get`: writes or reads a fixed set of spilled values through the guarded
/// chain (`KeyGuard → LimitsGuard → ValueSpill`) over a real Redis and a blob store given by
/// URL. It exists to show two separate processes sharing one Redis and one store: one puts, the
/// other gets and checks every value byte for byte.
///
/// Value `i` is `--size` bytes of the xorshift32 stream seeded with `i + 1` (each byte the low
/// byte of the next state), written under `<prefix>:<i>`. `get` prints one line per key,
/// `<key> <length> <XXH3-128 of the value read, hex>` (`<key> missing` for a miss), then a summary
/// line, and exits 1 when a value is missing or differs.
struct SpillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spill",
        abstract: "Put or get spilled values through a Redis and a shared blob store (two-instance check).",
        subcommands: [Put.self, Get.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "The Redis server: redis://[:password@]host:port.")
        var redis: String

        @Option(help: "The blob store: file:///path, postgres://user:pass@host:port/db, s3://bucket?endpoint=http://host:port&region=… (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).")
        var blobStore: String

        @Option(help: "How many values.")
        var count: Int = 20

        @Option(help: "Bytes per value (values above 1024 bytes spill).")
        var size: Int = 100_000

        @Option(help: "Key prefix.")
        var prefix: String = "spill-check"
    }

    /// The bytes of value `index`.
    static func value(_ index: Int, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        var x = UInt32(truncatingIfNeeded: index + 1)
        for _ in 0..<size {
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            buffer.writeInteger(UInt8(truncatingIfNeeded: x))
        }
        return buffer
    }

    static func withCache<R: Sendable>(_ options: Options, _ body: @escaping @Sendable (any CacheSpillHandle) async throws -> R) async throws -> R {
        let store = try BlobStoreURL.open(options.blobStore)
        return try await run(store, options, body)
    }

    static func run<S: BlobStore, R: Sendable>(_ store: S, _ options: Options, _ body: @escaping @Sendable (any CacheSpillHandle) async throws -> R) async throws -> R {
        let client = try RedisClient(url: options.redis)
        do {
            let result = try await BlobStoreURL.withRunning(store) {
                let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, maxValueBytes: 64 << 20))) {
                    KeyGuard()
                    LimitsGuard()
                    ValueSpill(store: store)
                }
                return try await body(SpillHandle(cache: cache))
            }
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the values (spilled to the blob store).")
        @OptionGroup var options: Options

        func run() async throws {
            let options = self.options
            try await SpillCommand.withCache(options) { cache in
                for i in 0..<options.count {
                    let outcome = try await cache.set("\(options.prefix):\(i)", SpillCommand.value(i, size: options.size))
                    guard outcome == .stored else { throw CacheError(.other, "\(options.prefix):\(i) was not stored: \(outcome)") }
                }
            }
            print("put \(options.count) values of \(options.size) bytes")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read the values and check them byte for byte.")
        @OptionGroup var options: Options

        func run() async throws {
            let options = self.options
            let (ok, bad) = try await SpillCommand.withCache(options) { cache in
                var ok = 0
                var bad = 0
                for i in 0..<options.count {
                    let key = "\(options.prefix):\(i)"
                    guard let value = try await cache.get(key) else {
                        print("\(key) missing")
                        bad += 1
                        continue
                    }
                    print("\(key) \(value.readableBytes) \(XXH3.hash128(value))")
                    if value == SpillCommand.value(i, size: options.size) { ok += 1 } else { bad += 1 }
                }
                return (ok, bad)
            }
            print("read \(ok) identical, \(bad) missing or different")
            if bad > 0 { throw ExitCode(1) }
        }
    }
}

/// The two calls the command makes, over a concretely typed guarded cache.
protocol CacheSpillHandle: Sendable {
    func set(_ key: String, _ value: ByteBuffer) async throws -> WriteOutcome
    func get(_ key: String) async throws -> ByteBuffer?
}

struct SpillHandle<Client: CacheClient, Chain: CacheMiddleware>: CacheSpillHandle {
    let cache: GuardedCache<Client, Chain>
    func set(_ key: String, _ value: ByteBuffer) async throws -> WriteOutcome { try await cache.set(CacheKey(key), value: value) }
    func get(_ key: String) async throws -> ByteBuffer? { try await cache.get(CacheKey(key)) }
}
