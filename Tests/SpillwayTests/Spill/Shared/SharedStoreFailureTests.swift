import Foundation
import NIOCore
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting
import Testing

extension SharedStoreTests {
    /// The shared stores' own behaviours: authentication, the table options, and failures
    /// classified as storage failures for the route's ladder.
    @Suite("Shared stores: failures and options")
    struct SharedStoreFailureTests {
        @Test("moto enforces authentication: a wrong secret gets 403, a typed .blobStore (storage) error, and nothing is stored")
        func wrongSecret() async throws {
            let servers = try SharedStoreServers.get()
            let prefix = "auth\(UInt32.random(in: 0 ... .max))-"
            let bad = try servers.s3Store(prefix: prefix, secret: servers.moto.secretAccessKey + "x")
            do throws(CacheError) {
                _ = try await bad.put(spillBytes(2000), metadata: BlobMetadata(createdAt: spillOrigin))
                Issue.record("a request signed with a wrong secret was accepted")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.failureClass == .storage)
                let s3 = try #require(error.underlying as? S3BlobStoreError)
                #expect(s3.status == 403)
                #expect(s3.kind == .accessDenied)
                #expect(s3.code == "SignatureDoesNotMatch", "\(s3)")
            }
            let good = try servers.s3Store(prefix: prefix)
            #expect(try await good.scan(after: nil, limit: 10).blobs.isEmpty)
            // Through the spill, the default ladder sheds the write instead of throwing.
            let cache = ValueSpillTests.cache(SpillTestClient(MemoryCache()), bad)
            #expect(try await cache.set("auth:k", value: spillBytes(5000)) == .dropped(.blobStore))
            #expect(try await cache.get("auth:k") == nil)
        }

        @Test("an unreachable Postgres is a .blobStore (storage) failure naming it; the ladder sheds the write")
        func postgresUnreachable() async throws {
            let port = try PostgresServer.freePort()
            let store = try PostgresBlobStore(
                configuration: .init(host: "127.0.0.1", port: port, username: "nobody", database: "none", operationTimeout: .seconds(1)))
            try await store.withRunning { () async throws -> Void in
                do throws(CacheError) {
                    _ = try await store.put(spillBytes(2000), metadata: BlobMetadata(createdAt: spillOrigin))
                    Issue.record("a put to a closed port succeeded")
                } catch {
                    #expect(error.code == .blobStore)
                    #expect(error.failureClass == .storage)
                    let kind = (error.underlying as? PostgresBlobStoreError)?.kind
                    #expect(kind == .unreachable || kind == .timedOut, "\(error)")
                }
                let cache = ValueSpillTests.cache(SpillTestClient(MemoryCache()), store)
                #expect(try await cache.set("pg:down", value: spillBytes(5000)) == .dropped(.blobStore))
            }
        }

        @Test("a read-only Postgres refuses the put as .blobStore readOnly; reads still work")
        func postgresReadOnly() async throws {
            let servers = try SharedStoreServers.get()
            try await servers.withPostgresStore { store in
                let id = try await store.put(spillBytes(3000), metadata: BlobMetadata(createdAt: spillOrigin))
                // A role whose sessions are read-only (as on a standby), on the same table.
                let role = "ro_\(UInt32.random(in: 0 ... .max))"
                try servers.postgres.psql(
                    "CREATE ROLE \(role) LOGIN PASSWORD 'ro-pass'", "GRANT SELECT, INSERT ON \"\(store.configuration.table)\" TO \(role)",
                    "ALTER ROLE \(role) SET default_transaction_read_only = on")
                var configuration = store.configuration
                configuration.username = role
                configuration.password = "ro-pass"
                let readOnly = try PostgresBlobStore(configuration: configuration, name: store.name)
                try await readOnly.withRunning { () async throws -> Void in
                    do throws(CacheError) {
                        _ = try await readOnly.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                        Issue.record("a read-only session accepted a put")
                    } catch {
                        #expect(error.code == .blobStore)
                        #expect(error.failureClass == .storage)
                        #expect((error.underlying as? PostgresBlobStoreError)?.kind == .readOnly, "\(error)")
                        #expect((error.underlying as? PostgresBlobStoreError)?.sqlState == "25006")
                    }
                    #expect(try await readOnly.get(id) == spillBytes(3000), "reads still work")
                }
            }
        }

        @Test("a full disk under Postgres (the table on a 256 KiB tmpfs tablespace) is .blobStore diskFull, SQLSTATE 53100; the ladder sheds the write; reads still work")
        func postgresDiskFull() async throws {
            let servers = try SharedStoreServers.get()
            try await withTinyFilesystem { dir in
                // The server runs as `postgres` (initdb refuses root): the tablespace must be its own.
                if geteuid() == 0 { #expect(runTool("/bin/chown", ["postgres:postgres", dir])) }
                let space = "tiny_\(UInt32.random(in: 0 ... .max))"
                try servers.postgres.psql("CREATE TABLESPACE \(space) LOCATION '\(dir)'")
                try await servers.withPostgresStore { store in
                    // The store makes its table on first use; then it moves onto the tiny disk,
                    // its content stored uncompressed (the TOAST table moves with it).
                    let first = try await store.put(spillBytes(3000), metadata: BlobMetadata(createdAt: spillOrigin))
                    let table = "\"\(store.configuration.table)\""
                    try servers.postgres.psql(
                        "ALTER TABLE \(table) SET TABLESPACE \(space)", "ALTER TABLE \(table) ALTER COLUMN content SET STORAGE EXTERNAL")
                    do throws(CacheError) {
                        for seed in 1...4 { _ = try await store.put(spillBytes(200_000, seed: UInt8(seed)), metadata: BlobMetadata(createdAt: spillOrigin)) }
                        Issue.record("800 KB went into a 256 KiB tablespace")
                    } catch {
                        #expect(error.code == .blobStore)
                        #expect(error.failureClass == .storage)
                        #expect((error.underlying as? PostgresBlobStoreError)?.kind == .diskFull, "\(error)")
                        #expect((error.underlying as? PostgresBlobStoreError)?.sqlState == "53100", "\(error)")
                    }
                    // Through the chain: the spilled write is shed, never thrown; what was
                    // stored before still reads back.
                    let cache = ValueSpillTests.cache(SpillTestClient(MemoryCache()), store)
                    #expect(try await cache.set("pg:full", value: spillBytes(300_000, seed: 9)) == .dropped(.blobStore))
                    #expect(try await store.get(first) == spillBytes(3000))
                }
                // The table is dropped; its tablespace goes before the disk is unmounted.
                try servers.postgres.psql("DROP TABLESPACE \(space)")
            }
        }

        @Test("the UNLOGGED option makes an unlogged table; the default is a logged one")
        func unlogged() async throws {
            let servers = try SharedStoreServers.get()
            try await servers.withPostgresStore(unlogged: true) { store in
                _ = try await store.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                #expect(try servers.postgres.psql("SELECT relpersistence FROM pg_class WHERE relname = '\(store.configuration.table)'") == "u")
            }
            try await servers.withPostgresStore(unlogged: false) { store in
                _ = try await store.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                #expect(try servers.postgres.psql("SELECT relpersistence FROM pg_class WHERE relname = '\(store.configuration.table)'") == "p")
            }
        }

        @Test("two stores on one table are one store: a blob put by one is read by the other; the table is created once")
        func twoPoolsOneTable() async throws {
            let servers = try SharedStoreServers.get()
            let table = "shared_\(UInt32.random(in: 0 ... .max))"
            try await servers.withPostgresStore(name: "pg-shared", table: table) { a in
                try await servers.withPostgresStore(name: "pg-shared", table: table) { b in
                    async let x = a.put(spillBytes(70_000, seed: 1), metadata: BlobMetadata(createdAt: spillOrigin))
                    async let y = b.put(spillBytes(70_000, seed: 2), metadata: BlobMetadata(createdAt: spillOrigin))
                    let (ida, idb) = try await (x, y)
                    #expect(try await b.get(ida) == spillBytes(70_000, seed: 1))
                    #expect(try await a.get(idb) == spillBytes(70_000, seed: 2))
                }
                try await a.dropTable()
            }
        }
    }
}
