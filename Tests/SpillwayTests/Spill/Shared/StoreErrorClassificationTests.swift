@testable import SpillwayPostgres
@testable import SpillwayS3
import Testing

/// How the shared stores classify what their servers answer. A real full disk under Postgres is
/// tested in `SharedStoreFailureTests`; no S3-compatible server here can be made full (moto has
/// no quota), so the S3 answers of a full store are classified from their status and XML body as
/// MinIO, Ceph and AWS send them.
@Suite("Shared stores: error classification")
struct StoreErrorClassificationTests {
    static func xml(_ code: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>m \(code)</Message></Error>"
    }

    @Test(
        "S3: full, over quota or too large is .full; other 5xx .unavailable; 403 .accessDenied; a missing bucket .noSuchBucket",
        arguments: [
            (507, "InsufficientStorage", S3BlobStoreError.Kind.full),
            (400, "QuotaExceeded", .full),
            (507, "XMinioStorageFull", .full),
            (400, "EntityTooLarge", .full),
            (503, "SlowDown", .unavailable),
            (500, "InternalError", .unavailable),
            (403, "SignatureDoesNotMatch", .accessDenied),
            (404, "NoSuchBucket", .noSuchBucket),
            (404, "NoSuchKey", .other),
            (409, "BucketAlreadyOwnedByYou", .other),
        ])
    func s3(status: Int, code: String, kind: S3BlobStoreError.Kind) {
        let error = S3BlobStoreError(status: status, xml: Self.xml(code), operation: "put")
        #expect(error.kind == kind, "\(status) \(code)")
        #expect(error.status == status)
        #expect(error.code == code)
        #expect(error.detail == "m \(code)", "the store's message is kept")
    }

    @Test("S3: an answer without an XML body keeps its status as the detail")
    func s3NoBody() {
        let error = S3BlobStoreError(status: 507, xml: "", operation: "put")
        #expect(error.kind == .full)
        #expect(error.code == nil)
        #expect(error.detail == "HTTP 507")
    }

    @Test(
        "Postgres: disk full and out of memory are .diskFull, read-only .readOnly, connection classes .unreachable, the rest .server",
        arguments: [
            ("53100", PostgresBlobStoreError.Kind.diskFull), ("53200", .diskFull), ("25006", .readOnly), ("53300", .unreachable),
            ("08006", .unreachable), ("08001", .unreachable), ("57P01", .unreachable), ("57P03", .unreachable),
            ("42P01", .server), ("23505", .server), ("57014", .server),
        ])
    func postgres(state: String, kind: PostgresBlobStoreError.Kind) {
        #expect(PostgresBlobStoreError.kind(ofSQLState: state) == kind, "\(state)")
    }
}
