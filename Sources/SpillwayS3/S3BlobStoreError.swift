/// What went wrong in an ``S3BlobStore`` (the `underlying` error of its `.blobStore`
/// ``CacheError``s).
public struct S3BlobStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Sendable, Hashable {
        /// 403: wrong credentials, a signature that does not match, or no permission.
        case accessDenied
        /// 404 on the bucket: it does not exist.
        case noSuchBucket
        /// 507, or an S3 error code saying the store is full or over quota.
        case full
        /// 5xx other than 507 (the store is failing or overloaded: 500, 503 SlowDown).
        case unavailable
        /// No connection, a reset, or a DNS failure.
        case unreachable
        /// No answer within the configured timeout.
        case timedOut
        /// Any other answer.
        case other
    }

    /// The kind of failure.
    public var kind: Kind
    /// The store operation (`put`, `get`, `scan`, ...).
    public var operation: String
    /// The HTTP status, when the store answered.
    public var status: Int?
    /// The S3 error code (`SignatureDoesNotMatch`, `SlowDown`, ...), when the answer had one.
    public var code: String?
    /// The store's message or the transport error.
    public var detail: String

    /// Creates an error.
    public init(kind: Kind, operation: String, status: Int? = nil, code: String? = nil, detail: String) {
        self.kind = kind
        self.operation = operation
        self.status = status
        self.code = code
        self.detail = detail
    }

    /// Classifies an error answer (its status and XML body).
    init(status: Int, xml: String, operation: String) {
        let code = S3Listing.firstValue(of: "Code", in: xml)
        let kind: Kind
        switch (status, code) {
        case (403, _): kind = .accessDenied
        case (404, "NoSuchBucket"?): kind = .noSuchBucket
        case (507, _), (_, "QuotaExceeded"?), (_, "XMinioStorageFull"?), (_, "EntityTooLarge"?): kind = .full
        case (500..<600, _): kind = .unavailable
        default: kind = .other
        }
        self.init(kind: kind, operation: operation, status: status, code: code, detail: S3Listing.firstValue(of: "Message", in: xml) ?? "HTTP \(status)")
    }

    /// Classifies a transport failure.
    init(transport error: any Error, operation: String) {
        let text = "\(error)"
        let kind: Kind = text.contains("deadlineExceeded") || text.lowercased().contains("timeout") ? .timedOut : .unreachable
        self.init(kind: kind, operation: operation, detail: text)
    }

    public var description: String {
        "\(operation): \(kind.rawValue)" + (status.map { " (HTTP \($0)" + (code.map { ", \($0)" } ?? "") + ")" } ?? "") + ": \(detail)"
    }
}
