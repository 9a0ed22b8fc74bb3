import Foundation
import NIOCore
import Spillway
import SpillwayRedis
import SpillwayS3
import SpillwayTesting
import Testing

extension SharedStoreTests {
    /// Two separate `spillway` processes sharing one real redis-server and one blob store: every
    /// value spilled by one is read byte for byte by the other.
    @Suite("Two instances, one store")
    struct TwoInstanceTests {
        /// The `spillway` executable built beside the test bundle.
        static var executable: String {
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("spillway").path
        }

        /// Runs `spillway spill <mode> …` as its own process; returns its exit status and output.
        static func spill(_ mode: String, redis: String, store: String, prefix: String, environment: [String: String] = [:]) async throws -> (Int32, String) {
            let arguments = ["spill", mode, "--redis", redis, "--blob-store", store, "--count", "12", "--size", "150000", "--prefix", prefix]
            let result = try await ChildProcess.run(executable, arguments, environment: environment, mergeStandardError: true)
            return (result.status, result.output)
        }

        /// What `spillway spill` writes as value `i` (xorshift32 seeded with i + 1), computed here
        /// independently.
        static func expected(_ i: Int) -> ByteBuffer {
            var out = ByteBuffer()
            var x = UInt32(i + 1)
            for _ in 0..<150_000 {
                x ^= x << 13
                x ^= x >> 17
                x ^= x << 5
                out.writeInteger(UInt8(x & 0xFF))
            }
            return out
        }

        static func check(store url: String, prefix: String, environment: [String: String] = [:]) async throws {
            try await RedisServer.withRedisServer { redis in
                #expect(FileManager.default.isExecutableFile(atPath: executable), "spillway was built beside the tests: \(executable)")
                let (putStatus, putOutput) = try await spill("put", redis: redis.url, store: url, prefix: prefix, environment: environment)
                #expect(putStatus == 0, "spillway spill put: \(putOutput)")
                let (getStatus, getOutput) = try await spill("get", redis: redis.url, store: url, prefix: prefix, environment: environment)
                #expect(getStatus == 0, "spillway spill get: \(getOutput)")
                #expect(getOutput.contains("read 12 identical, 0 missing or different"), "\(getOutput)")
                for i in 0..<12 {
                    let line = "\(prefix):\(i) 150000 \(XXH3.hash128(expected(i)))"
                    #expect(getOutput.contains(line), "the reader process saw value \(i) as written: \(line)")
                }
                // The key holds a pointer, not the value.
                let client = try redis.makeClient()
                let raw = try await rawValue(client, CacheKey("\(prefix):0"))
                await client.close()
                guard let raw, case .pointer = SpillEnvelope.decode(raw) else {
                    Issue.record("\(prefix):0 does not hold a spill pointer")
                    return
                }
            }
        }

        @Test("spillway spill put in one process, get in another: Postgres")
        func postgres() async throws {
            let servers = try SharedStoreServers.get()
            let table = "two_\(UInt32.random(in: 0 ... .max))"
            let url = "postgres://\(servers.postgres.username):\(servers.postgres.password)@127.0.0.1:\(servers.postgres.port)/\(servers.postgres.database)?table=\(table)"
            try await Self.check(store: url, prefix: "two-pg")
            let count = try servers.postgres.psql("SELECT count(*) FROM \"\(table)\"")
            #expect(count == "12", "one blob per value in the shared table")
            try servers.postgres.psql("DROP TABLE \"\(table)\"")
        }

        @Test("spillway spill put in one process, get in another: S3 (moto, authenticated)")
        func s3() async throws {
            let servers = try SharedStoreServers.get()
            let prefix = "two\(UInt32.random(in: 0 ... .max))-"
            let url = "s3://\(servers.moto.bucket)?endpoint=\(servers.moto.endpoint)&region=\(servers.moto.region)&prefix=\(prefix)"
            let env = ["AWS_ACCESS_KEY_ID": servers.moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": servers.moto.secretAccessKey]
            try await Self.check(store: url, prefix: "two-s3", environment: env)
            let store = try servers.s3Store(prefix: prefix)
            #expect(try await store.scan(after: nil, limit: 100).blobs.count == 12)
        }
    }
}
