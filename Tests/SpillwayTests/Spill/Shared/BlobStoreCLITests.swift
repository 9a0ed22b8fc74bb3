import Foundation
import Spillway
import SpillwayS3
import SpillwayTesting
import Testing

extension SharedStoreTests {
    /// `spillway demo --shape payload-in-value --blob-store URL` and `spillway soak --blob-store
    /// URL`, run as their own processes against the suite's real PostgreSQL and moto.
    @Suite("spillway demo and soak with --blob-store")
    struct BlobStoreCLITests {
        static let tasks = 60
        static let keyBytes = 10_240

        /// Runs `spillway <arguments>` and returns its exit status, standard output and error.
        static func spillway(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, out: String, err: String) {
            let result = try await ChildProcess.run(TwoInstanceTests.executable, arguments, environment: environment)
            return (result.status, result.output, result.error)
        }

        /// Runs the demo with `--json` against `url` and checks what it counted: every guarded
        /// task's value went to the store (one blob of `keyBytes` each), nothing failed, and on
        /// the full cache every spilled write was shed and its blob released.
        static func demo(_ url: String, storeName: String, environment: [String: String] = [:]) async throws -> [String: Any] {
            let (status, out, err) = try await spillway(
                ["demo", "--shape", "payload-in-value", "--tasks", String(tasks), "--concurrency", "8", "--json", "--blob-store", url], environment: environment)
            #expect(status == 0, "spillway demo: \(err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "JSON output: \(out) \(err)")
            let guarded = try #require(json["guarded"] as? [String: Any])
            let counters = try #require(guarded["counters"] as? [String: Any])
            #expect(guarded["completed_tasks"] as? Int == tasks, "\(guarded)")
            #expect(guarded["failed_tasks"] as? Int == 0, "\(guarded)")
            #expect(guarded["failed_requests"] as? Int == 0, "\(guarded)")
            #expect(counters["blob_store"] as? String == storeName)
            #expect(counters["blobs"] as? Int == tasks, "one spilled value per task: \(counters)")
            #expect(counters["blob_bytes"] as? Int == tasks * keyBytes, "\(counters)")
            #expect(counters["writes_shed"] as? Int == 0, "\(counters)")
            let full = try #require((json["guarded_full_cache"] as? [String: Any])?["counters"] as? [String: Any])
            #expect(full["blobs"] as? Int == 0, "a write the full cache refused leaves no blob: \(full)")
            #expect(full["writes_shed"] as? Int == tasks, "\(full)")
            return json
        }

        @Test("spillway demo --blob-store postgres://…: every guarded task's value is one row in the shared table, deleted afterwards")
        func demoPostgres() async throws {
            let pg = try SharedStoreServers.get().postgres
            let table = "demo_\(UInt32.random(in: 0 ... .max))"
            let url = "postgres://\(pg.username):\(pg.password)@127.0.0.1:\(pg.port)/\(pg.database)?table=\(table)&unlogged=1"
            _ = try await Self.demo(url, storeName: "postgres://127.0.0.1:\(pg.port)/\(pg.database)/\(table)")
            // The demo made the table (unlogged, as asked) and left it empty.
            #expect(try pg.psql("SELECT relpersistence FROM pg_class WHERE relname = '\(table)'") == "u")
            #expect(try pg.psql("SELECT count(*) FROM \"\(table)\"") == "0")
        }

        @Test("spillway demo --blob-store s3://bucket?endpoint=…&region=…: credentials from AWS_*; the bucket holds none of the run's objects afterwards")
        func demoS3() async throws {
            let servers = try SharedStoreServers.get()
            let moto = servers.moto
            let prefix = "demo\(UInt32.random(in: 0 ... .max))-"
            let url = "s3://\(moto.bucket)?endpoint=\(moto.endpoint)&region=\(moto.region)&prefix=\(prefix)"
            let env = ["AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey]
            _ = try await Self.demo(url, storeName: "s3://\(moto.bucket)/\(prefix)", environment: env)
            #expect(try await servers.s3Store(prefix: prefix).scan(after: nil, limit: 10).blobs.isEmpty)
        }

        @Test("spillway demo --blob-store s3:// with a wrong secret: moto refuses every put; the guarded run sheds them, no task fails")
        func demoS3WrongSecret() async throws {
            let moto = try SharedStoreServers.get().moto
            let url = "s3://\(moto.bucket)?endpoint=\(moto.endpoint)&region=\(moto.region)&prefix=bad-"
            let env = ["AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey + "x"]
            let (status, out, err) = try await Self.spillway(
                ["demo", "--shape", "payload-in-value", "--tasks", "20", "--concurrency", "4", "--json", "--blob-store", url], environment: env)
            #expect(status == 0, "\(err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            let guarded = try #require(json["guarded"] as? [String: Any])
            let counters = try #require(guarded["counters"] as? [String: Any])
            #expect(guarded["failed_tasks"] as? Int == 0, "\(guarded)")
            #expect(counters["blobs"] as? Int == 0)
            #expect(counters["writes_shed"] as? Int == 20, "\(counters)")
        }

        @Test("spillway demo with a malformed --blob-store exits non-zero with the typed error's message")
        func demoMalformed() async throws {
            let (status, _, err) = try await Self.spillway(["demo", "--shape", "payload-in-value", "--blob-store", "postgres://h/db?unloged=1"])
            #expect(status != 0)
            #expect(err.contains("--blob-store 'postgres://h/db?unloged=1' has an unknown option 'unloged'"), "\(err)")
        }

        @Test("spillway soak --blob-store postgres://…: no wrong bytes, values spilled to the table, the sweep sees only the run's blobs, all deleted at exit")
        func soakPostgres() async throws {
            let pg = try SharedStoreServers.get().postgres
            let table = "soak_\(UInt32.random(in: 0 ... .max))"
            let url = "postgres://\(pg.username):\(pg.password)@127.0.0.1:\(pg.port)/\(pg.database)?table=\(table)"
            // A blob of another instance in the same table: the soak's sweep must not take it for
            // one of its orphans (its Redis has never heard of it).
            try pg.psql(
                "CREATE TABLE \"\(table)\" (id bytea PRIMARY KEY, content bytea NOT NULL, digest bytea NOT NULL, expiry bigint, created bigint NOT NULL, owner bytea)",
                "INSERT INTO \"\(table)\" VALUES ('\\x00000000000000000000000000000001', 'x', 'y', NULL, 0, NULL)")
            let (status, out, err) = try await Self.spillway([
                "soak", "--duration", "2", "--rate", "400", "--workers", "8", "--spill-percent", "20", "--reset-every", "1", "--blob-store", url,
            ])
            #expect(status == 0, "\(out)\n\(err)")
            #expect(out.contains("wrong bytes returned: 0 "), "\(out)")
            #expect(out.contains("blob store: postgres://127.0.0.1:\(pg.port)/\(pg.database)/\(table)"), "\(out)")
            let before = try #require(Self.number(in: out, after: "  blobs: "), "\(out)")
            #expect(before > 0, "the run spilled values to Postgres: \(out)")
            #expect(out.contains("orphans found by a second sweep: 0"), "\(out)")
            #expect(try pg.psql("SELECT count(*) FROM \"\(table)\"") == "1", "the run's blobs are deleted at exit, the other instance's is not")
        }

        /// The integer that follows `marker` in `text`.
        static func number(in text: String, after marker: String) -> Int? {
            guard let range = text.range(of: marker) else { return nil }
            return Int(text[range.upperBound...].prefix { $0.isNumber })
        }
    }
}
