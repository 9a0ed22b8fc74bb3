import Foundation
import Logging
import NIOCore
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting
import Testing

/// The real servers behind the shared-store suites: one PostgreSQL cluster and one moto S3
/// server (authentication on), started ONCE around the whole ``SharedStoreTests`` suite by its
/// trait and stopped afterwards, also when a test fails. A test that needs them and finds them
/// missing fails (never skips).
struct SharedStoreServers: Sendable {
    let postgres: PostgresServer
    let moto: MotoServer

    @TaskLocal static var current: SharedStoreServers?

    /// The running servers.
    static func get() throws -> SharedStoreServers {
        try #require(current, "the shared store servers are started by SharedStoreTests' trait; run this test inside that suite")
    }

    /// The package's root (where `.build/venv` lives), from this file's path.
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// A Postgres store on a fresh table (dropped afterwards), running for the duration of `body`.
    func withPostgresStore<R: Sendable>(
        unlogged: Bool = false, name: String? = nil, table: String? = nil, _ body: (PostgresBlobStore) async throws -> R
    ) async throws -> R {
        let store = try postgresStore(unlogged: unlogged, name: name, table: table)
        return try await store.withRunning {
            do {
                let result = try await body(store)
                if table == nil { try await store.dropTable() }
                return result
            } catch {
                if table == nil { try? await store.dropTable() }
                throw error
            }
        }
    }

    func postgresStore(unlogged: Bool = false, name: String? = nil, table: String? = nil, timeout: Duration = .seconds(10)) throws -> PostgresBlobStore {
        try PostgresBlobStore(
            configuration: .init(
                host: postgres.host, port: postgres.port, username: postgres.username, password: postgres.password, database: postgres.database,
                table: table ?? "blobs_\(UInt32.random(in: 0 ... .max))", unlogged: unlogged, operationTimeout: timeout),
            name: name)
    }

    /// An S3 store under a fresh prefix of the moto bucket.
    func s3Store(prefix: String? = nil, secret: String? = nil, addressing: S3BlobStore.Addressing = .path, name: String? = nil) throws -> S3BlobStore {
        try S3BlobStore(
            configuration: .init(
                bucket: moto.bucket, endpoint: moto.endpoint, region: moto.region, addressing: addressing,
                prefix: prefix ?? "t\(UInt32.random(in: 0 ... .max))-", accessKeyID: moto.accessKeyID, secretAccessKey: secret ?? moto.secretAccessKey),
            name: name)
    }
}

/// Starts the servers once around the suite it is attached to.
struct SharedStoreServersTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        if SharedStoreServers.current != nil {
            try await function()
            return
        }
        let postgres = try await PostgresServer.start()
        let moto: MotoServer
        do {
            moto = try await MotoServer.start(packageRoot: SharedStoreServers.packageRoot)
        } catch {
            postgres.stop()
            throw error
        }
        defer {
            moto.stop()
            postgres.stop()
        }
        try await SharedStoreServers.$current.withValue(SharedStoreServers(postgres: postgres, moto: moto)) {
            try await function()
        }
    }
}

extension Trait where Self == SharedStoreServersTrait {
    /// One PostgreSQL and one moto server for the whole suite.
    static var sharedStoreServers: Self { Self() }
}

/// Every suite that talks to the shared stores' real servers, nested here so that the servers
/// start once for all of them.
@Suite("Shared blob stores (PostgreSQL, S3 on moto)", .serialized, .sharedStoreServers)
struct SharedStoreTests {}
