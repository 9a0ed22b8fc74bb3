import Foundation
import Spillway
import SpillwayPostgres
import SpillwayS3

/// A blob store named by a URL on the command line (`--blob-store`):
///
/// | URL | store |
/// |---|---|
/// | `file:///var/cache/app/blobs` | ``FileBlobStore`` at that directory (name `file@<host>`) |
/// | `postgres://user:pass@host:port/db?table=spillway_blobs&unlogged=1` | ``PostgresBlobStore`` |
/// | `s3://bucket?endpoint=http://host:port&region=us-east-1&addressing=path&prefix=spillway-` | ``S3BlobStore``; credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) |
///
/// A `name=` query item overrides the store's name (every instance sharing a store must agree).
enum BlobStoreURL {
    /// The store the URL names. Postgres stores need their pool running (``withRunning(_:_:)``).
    static func open(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any BlobStore {
        guard let url = URLComponents(string: text), let scheme = url.scheme else {
            throw CacheError(.invalidArgument, "--blob-store: '\(text)' is not a URL (file:///path, postgres://…, s3://bucket?endpoint=…)")
        }
        var query: [String: String] = [:]
        for item in url.queryItems ?? [] { query[item.name] = item.value ?? "" }
        switch scheme {
        case "file":
            guard !url.path.isEmpty else { throw CacheError(.invalidArgument, "--blob-store: file:// needs a path") }
            return try FileBlobStore(root: url.path, name: query["name"] ?? FileBlobStore.defaultName)
        case "postgres", "postgresql":
            guard let host = url.host, let user = url.user else {
                throw CacheError(.invalidArgument, "--blob-store: postgres://user[:password]@host[:port]/database")
            }
            let database = String(url.path.dropFirst())
            let configuration = PostgresBlobStore.Configuration(
                host: host, port: url.port ?? 5432, username: user, password: url.password, database: database.isEmpty ? user : database,
                table: query["table"] ?? "spillway_blobs", unlogged: ["1", "true", "yes"].contains(query["unlogged"] ?? ""))
            return try PostgresBlobStore(configuration: configuration, name: query["name"])
        case "s3":
            guard let bucket = url.host, !bucket.isEmpty else { throw CacheError(.invalidArgument, "--blob-store: s3://bucket?endpoint=…") }
            let region = query["region"] ?? environment["AWS_REGION"] ?? "us-east-1"
            guard let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
                throw CacheError(.invalidArgument, "--blob-store: s3:// takes its credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            }
            let addressing: S3BlobStore.Addressing = query["addressing"] == "virtual" ? .virtualHosted : .path
            let configuration = S3BlobStore.Configuration(
                bucket: bucket, endpoint: query["endpoint"] ?? "https://s3.\(region).amazonaws.com", region: region, addressing: addressing,
                prefix: query["prefix"] ?? "spillway-", accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
            return try S3BlobStore(configuration: configuration, name: query["name"])
        default:
            throw CacheError(.invalidArgument, "--blob-store: unknown scheme '\(scheme)' (file, postgres, s3)")
        }
    }

    /// Runs `body` with the store's background work (a Postgres pool) running.
    static func withRunning<R: Sendable>(_ store: any BlobStore, _ body: () async throws -> R) async throws -> R {
        if let postgres = store as? PostgresBlobStore {
            return try await postgres.withRunning(body)
        }
        return try await body()
    }
}
