import Spillway
import SpillwayPostgres
import SpillwayS3
import Testing

@testable import spillway

/// The one `--blob-store` parser of `spillway demo`, `soak` and `spill`: what each URL means,
/// and a typed error for each way a URL can be wrong.
@Suite("--blob-store URLs")
struct BlobStoreURLTests {
    static let credentials = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"]

    @Test("file:///path is a FileBlobStore at that path, named file@<host> unless name= says otherwise")
    func file() throws {
        guard case .file(let root, let name) = try BlobStoreURL.parse("file:///var/cache/blobs") else {
            Issue.record("not a file store")
            return
        }
        #expect(root == "/var/cache/blobs")
        #expect(name == FileBlobStore.defaultName)
        guard case .file(_, let named) = try BlobStoreURL.parse("file:///tmp/b?name=shared-disk") else {
            Issue.record("not a file store")
            return
        }
        #expect(named == "shared-disk")
    }

    @Test("postgres://user:pass@host:port/db with table= and unlogged=; postgresql:// is the same; the password is percent-decoded")
    func postgres() throws {
        guard case .postgres(let c, let name) = try BlobStoreURL.parse("postgresql://app:p%40ss@db.local:6543/cache?table=blobs_1&unlogged=1") else {
            Issue.record("not a postgres store")
            return
        }
        #expect(c.host == "db.local")
        #expect(c.port == 6543)
        #expect(c.username == "app")
        #expect(c.password == "p@ss")
        #expect(c.database == "cache")
        #expect(c.table == "blobs_1")
        #expect(c.unlogged)
        #expect(name == nil)
        guard case .postgres(let d, _) = try BlobStoreURL.parse("postgres://app@db.local") else {
            Issue.record("not a postgres store")
            return
        }
        #expect(d.port == 5432)
        #expect(d.database == "app", "the database defaults to the user's name, as libpq does")
        #expect(d.table == "spillway_blobs")
        #expect(!d.unlogged)
    }

    @Test("s3://bucket?endpoint=…&region=…&addressing=virtual, credentials from the environment")
    func s3() throws {
        let env = Self.credentials.merging(["AWS_SESSION_TOKEN": "tok"]) { a, _ in a }
        guard
            case .s3(let c, let name) = try BlobStoreURL.parse(
                "s3://my-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1&addressing=virtual&prefix=app-", environment: env)
        else {
            Issue.record("not an s3 store")
            return
        }
        #expect(c.bucket == "my-bucket")
        #expect(c.endpoint == "http://127.0.0.1:9000")
        #expect(c.region == "eu-west-1")
        #expect(c.addressing == .virtualHosted)
        #expect(c.prefix == "app-")
        #expect(c.accessKeyID == "AKID")
        #expect(c.secretAccessKey == "secret")
        #expect(c.sessionToken == "tok")
        #expect(name == nil)
        guard case .s3(let d, _) = try BlobStoreURL.parse("s3://b", environment: Self.credentials.merging(["AWS_REGION": "ap-south-1"]) { a, _ in a }) else {
            Issue.record("not an s3 store")
            return
        }
        #expect(d.endpoint == "https://s3.ap-south-1.amazonaws.com")
        #expect(d.addressing == .path)
    }

    @Test(
        "a malformed URL is a typed error naming what is wrong",
        arguments: [
            ("not a url", BlobStoreURLError.Kind.notAURL, ""),
            ("/var/cache/blobs", .notAURL, ""),
            ("redis://localhost", .unknownScheme, "redis"),
            ("file://", .missingPart, "a path (file:///path)"),
            ("file://otherhost/blobs", .missingPart, "a local path (file:///path)"),
            ("postgres:///db", .missingPart, "a host (postgres://user:pass@host:port/db)"),
            ("postgres://db.local/cache", .missingPart, "a user (postgres://user:pass@host:port/db)"),
            ("postgres://u@h/db?table=1abc", .badValue, "table"),
            ("postgres://u@h/db?unlogged=maybe", .badValue, "unlogged"),
            ("postgres://u@h/db?unloged=1", .unknownOption, "unloged"),
            ("postgres://u@h/db?table=a&table=b", .repeatedOption, "table"),
            ("s3://?endpoint=http://h:1", .missingPart, "a bucket (s3://bucket?endpoint=…)"),
            ("s3://b?endpoint=ftp://h:1", .badValue, "endpoint (http(s)://host[:port])"),
            ("s3://b?endpoint=http://h:1/path", .badValue, "endpoint (http(s)://host[:port])"),
            ("s3://b?addressing=dns", .badValue, "addressing"),
            ("s3://b/some/path", .badValue, "path (use prefix=)"),
            ("s3://b?name=", .badValue, "name"),
        ])
    func malformed(url: String, kind: BlobStoreURLError.Kind, detail: String) {
        #expect(throws: BlobStoreURLError(kind, url, detail: detail)) {
            try BlobStoreURL.parse(url, environment: Self.credentials)
        }
    }

    @Test("s3:// without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is a missingCredentials error")
    func missingCredentials() {
        #expect(throws: BlobStoreURLError(.missingCredentials, "s3://b")) {
            try BlobStoreURL.parse("s3://b", environment: ["AWS_ACCESS_KEY_ID": "AKID"])
        }
    }

    @Test("an error never shows the password")
    func redacted() {
        let error = BlobStoreURLError(.unknownOption, "postgres://app:hunter2@h/db?x=1", detail: "x")
        #expect(!error.description.contains("hunter2"))
        #expect(error.description == "--blob-store 'postgres://app:***@h/db?x=1' has an unknown option 'x'")
    }
}
