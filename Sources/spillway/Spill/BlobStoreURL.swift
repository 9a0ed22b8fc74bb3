import Foundation
import Spillway
import SpillwayPostgres
import SpillwayS3

/// A blob store named by a URL on the command line (`--blob-store` of `spillway demo`,
/// `spillway soak` and `spillway spill`), parsed once here for all of them:
///
/// | URL | store |
/// |---|---|
/// | `file:///var/cache/app/blobs` | ``FileBlobStore`` at that directory (name `file@<host>`) |
/// | `postgres://user:pass@host:port/db?table=spillway_blobs&unlogged=1` | ``PostgresBlobStore`` |
/// | `s3://bucket?endpoint=http://host:port&region=us-east-1&addressing=path&prefix=spillway-` | ``S3BlobStore``; credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) |
///
/// A `name=` query item overrides the store's name (every instance sharing a store must agree).
/// An unknown query item is an error (a misspelt `unlogged` must not silently mean "logged").
/// ``parse(_:environment:)`` only reads the text; ``open()`` makes the store.
enum BlobStoreURL: Sendable {
    /// A directory on this host.
    case file(root: String, name: String)
    /// A table in PostgreSQL.
    case postgres(PostgresBlobStore.Configuration, name: String?)
    /// A bucket (and prefix) in an S3-compatible store.
    case s3(S3BlobStore.Configuration, name: String?)

    /// The query items each scheme takes.
    static let allowedQuery: [String: Set<String>] = [
        "file": ["name"],
        "postgres": ["name", "table", "unlogged"],
        "s3": ["name", "endpoint", "region", "addressing", "prefix"],
    ]

    /// Parses `text`.
    /// - Parameter environment: where `s3://` finds `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    ///   `AWS_SESSION_TOKEN` and (without `region=`) `AWS_REGION`.
    /// - Throws: ``BlobStoreURLError`` naming what is wrong.
    static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(BlobStoreURLError) -> BlobStoreURL {
        guard let url = URLComponents(string: text), let rawScheme = url.scheme, text.contains("://") else {
            throw BlobStoreURLError(.notAURL, text)
        }
        let scheme = rawScheme.lowercased() == "postgresql" ? "postgres" : rawScheme.lowercased()
        guard let allowed = allowedQuery[scheme] else { throw BlobStoreURLError(.unknownScheme, text, detail: rawScheme) }
        var query: [String: String] = [:]
        for item in url.queryItems ?? [] {
            guard allowed.contains(item.name) else { throw BlobStoreURLError(.unknownOption, text, detail: item.name) }
            guard query[item.name] == nil else { throw BlobStoreURLError(.repeatedOption, text, detail: item.name) }
            query[item.name] = item.value ?? ""
        }
        if let name = query["name"], !SpillPointer.isValidStoreName(name) { throw BlobStoreURLError(.badValue, text, detail: "name") }
        switch scheme {
        case "file":
            guard url.host ?? "" == "" || url.host == "localhost" else { throw BlobStoreURLError(.missingPart, text, detail: "a local path (file:///path)") }
            guard url.path.count > 1 else { throw BlobStoreURLError(.missingPart, text, detail: "a path (file:///path)") }
            return .file(root: url.path, name: query["name"] ?? FileBlobStore.defaultName)
        case "postgres":
            guard let host = url.host, !host.isEmpty else { throw BlobStoreURLError(.missingPart, text, detail: "a host (postgres://user:pass@host:port/db)") }
            guard let user = url.user, !user.isEmpty else { throw BlobStoreURLError(.missingPart, text, detail: "a user (postgres://user:pass@host:port/db)") }
            let database = String(url.path.dropFirst())
            guard !database.contains("/") else { throw BlobStoreURLError(.badValue, text, detail: "database") }
            if let port = url.port, !(1...65535).contains(port) { throw BlobStoreURLError(.badValue, text, detail: "port") }
            let unlogged: Bool
            switch query["unlogged"]?.lowercased() {
            case nil, "0", "false", "no": unlogged = false
            case "", "1", "true", "yes": unlogged = true
            default: throw BlobStoreURLError(.badValue, text, detail: "unlogged")
            }
            let table = query["table"] ?? "spillway_blobs"
            guard PostgresBlobStore.isValidTableName(table) else { throw BlobStoreURLError(.badValue, text, detail: "table") }
            return .postgres(
                PostgresBlobStore.Configuration(
                    host: host, port: url.port ?? 5432, username: user, password: url.password, database: database.isEmpty ? user : database,
                    table: table, unlogged: unlogged),
                name: query["name"])
        default:  // s3
            guard let bucket = url.host, !bucket.isEmpty else { throw BlobStoreURLError(.missingPart, text, detail: "a bucket (s3://bucket?endpoint=…)") }
            guard url.path.isEmpty || url.path == "/" else { throw BlobStoreURLError(.badValue, text, detail: "path (use prefix=)") }
            guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
                throw BlobStoreURLError(.missingCredentials, text)
            }
            let region = query["region"] ?? environment["AWS_REGION"] ?? "us-east-1"
            guard !region.isEmpty else { throw BlobStoreURLError(.badValue, text, detail: "region") }
            let addressing: S3BlobStore.Addressing
            switch query["addressing"] {
            case nil, "path": addressing = .path
            case "virtual", "virtual-hosted", "virtualHosted": addressing = .virtualHosted
            default: throw BlobStoreURLError(.badValue, text, detail: "addressing")
            }
            let endpoint = query["endpoint"] ?? "https://s3.\(region).amazonaws.com"
            guard let e = URLComponents(string: endpoint), e.scheme == "http" || e.scheme == "https", let h = e.host, !h.isEmpty, e.path.isEmpty || e.path == "/",
                e.query == nil
            else { throw BlobStoreURLError(.badValue, text, detail: "endpoint (http(s)://host[:port])") }
            return .s3(
                S3BlobStore.Configuration(
                    bucket: bucket, endpoint: endpoint, region: region, addressing: addressing, prefix: query["prefix"] ?? "spillway-",
                    accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"]),
                name: query["name"])
        }
    }

    /// Parses `text` and makes the store. Postgres stores need their pool running
    /// (``withRunning(_:_:)``).
    /// - Throws: ``BlobStoreURLError`` for a malformed URL, `CacheError` when the store refuses
    ///   its configuration (a file root that cannot be created, an S3 prefix with other characters).
    static func open(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any BlobStore {
        try parse(text, environment: environment).open()
    }

    /// Makes the store.
    /// - Throws: `CacheError` when the store refuses its configuration.
    func open() throws(CacheError) -> any BlobStore {
        switch self {
        case .file(let root, let name): return try FileBlobStore(root: root, name: name)
        case .postgres(let configuration, let name): return try PostgresBlobStore(configuration: configuration, name: name)
        case .s3(let configuration, let name): return try S3BlobStore(configuration: configuration, name: name)
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

/// A `--blob-store` URL that cannot be used, and why.
struct BlobStoreURLError: Error, Equatable, CustomStringConvertible {
    /// What is wrong.
    enum Kind: String, Sendable, Equatable {
        /// Not `scheme://…` at all.
        case notAURL
        /// A scheme other than `file`, `postgres` (`postgresql`), `s3`.
        case unknownScheme
        /// A required part is missing (path, host, user, bucket).
        case missingPart
        /// A query item the scheme does not take.
        case unknownOption
        /// A query item given twice.
        case repeatedOption
        /// A part or a query item has a value that cannot be used (``detail`` names it).
        case badValue
        /// `s3://` without `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` in the environment.
        case missingCredentials
    }

    /// What is wrong.
    var kind: Kind
    /// The URL as given, its password replaced by `***`.
    var url: String
    /// The part or option concerned.
    var detail: String

    init(_ kind: Kind, _ url: String, detail: String = "") {
        self.kind = kind
        self.url = Self.redacted(url)
        self.detail = detail
    }

    var description: String {
        let what: String
        switch kind {
        case .notAURL: what = "is not a URL (file:///path, postgres://user:pass@host:port/db, s3://bucket?endpoint=http://host:port&region=…)"
        case .unknownScheme: what = "has an unknown scheme '\(detail)' (file, postgres, s3)"
        case .missingPart: what = "needs \(detail)"
        case .unknownOption: what = "has an unknown option '\(detail)'"
        case .repeatedOption: what = "gives '\(detail)' twice"
        case .badValue: what = "has a bad \(detail)"
        case .missingCredentials: what = "needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        }
        return "--blob-store '\(url)' \(what)"
    }

    /// `text` with the password of its user information replaced by `***`.
    static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}
