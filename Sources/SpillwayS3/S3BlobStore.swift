public import AsyncHTTPClient
internal import Crypto
public import NIOCore
package import NIOHTTP1
public import Spillway

/// A ``BlobStore`` in a bucket of any S3-compatible object store (AWS S3, MinIO, Ceph, moto),
/// shared by every instance of a deployment.
///
/// - **Objects**: one per blob, named `<prefix><32 hex digits of the id>`, so a listing comes in
///   id order. The blob's expiry, creation time, owner key (base64) and XXH3-128 digest are user
///   metadata (`x-amz-meta-spillway-*`); a read whose content does not match the digest is
///   `.corruption`.
/// - **Writes** are a single `PUT` with `If-None-Match: *`, so an object is never overwritten
///   (an id drawn twice is drawn again).
/// - **Large blobs** are held once: a put streams the caller's buffer to the socket as it is
///   (no copy; with ``PayloadSigning/signed`` its SHA-256 is computed over that same buffer
///   first), and a get appends the body's chunks, as they arrive, to one buffer reserved at
///   the announced `Content-Length` (no second full copy, no regrowth). The ``BlobStore``
///   contract hands whole `ByteBuffer`s in and out, so a blob is in memory once, never twice.
/// - **Requests** are signed with AWS Signature Version 4 (``SigV4Signer``), path-style
///   (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`) per ``Addressing``.
/// - **Expiry cleanup** is the sweeper's: it lists the bucket and reads each object's metadata
///   (a bucket lifecycle rule counts whole days, too coarse for cache TTLs). ``setExpiry(_:_:)``
///   copies the object onto itself with new metadata.
/// - **Errors**: every failure is a `.blobStore` ``CacheError`` (the storage class the route's
///   ladder handles) with an ``S3BlobStoreError`` naming the HTTP status and S3 error code, or
///   the transport failure (unreachable, timed out).
public struct S3BlobStore: BlobStore {
    /// How the bucket appears in request URLs.
    public enum Addressing: String, Sendable, Hashable {
        /// `https://endpoint/bucket/key` (MinIO, moto, most self-hosted stores).
        case path
        /// `https://bucket.endpoint/key` (AWS's default).
        case virtualHosted
    }

    /// Whether request bodies are hashed into the signature.
    public enum PayloadSigning: String, Sendable, Hashable {
        /// The body's SHA-256 is signed (the default; works over plain HTTP).
        case signed
        /// `UNSIGNED-PAYLOAD`: the body is not hashed (use over HTTPS only).
        case unsigned
    }

    /// Where and how the store connects.
    public struct Configuration: Sendable {
        /// The bucket (it must exist).
        public var bucket: String
        /// The endpoint: scheme, host and optional port, e.g. `http://127.0.0.1:9000` or
        /// `https://s3.eu-west-1.amazonaws.com`.
        public var endpoint: String
        /// The region the requests are signed for.
        public var region: String
        /// Path-style or virtual-hosted URLs.
        public var addressing: Addressing
        /// The prefix of every object name (`spillway-` by default): letters, digits, `-`, `_`,
        /// `.` and `~` only, so it never needs escaping in a listing's query (some S3-compatible
        /// servers, moto among them, check signatures against the unescaped query).
        public var prefix: String
        /// The access key id.
        public var accessKeyID: String
        /// The secret access key.
        public var secretAccessKey: String
        /// The session token of temporary credentials.
        public var sessionToken: String?
        /// Whether bodies are hashed into the signature.
        public var payloadSigning: PayloadSigning
        /// How long one request may take.
        public var timeout: Duration
        /// Where to open connections instead of the URL's host: `host:port` (like curl's
        /// `--connect-to`). The `Host` header and the signature keep the URL's host, so a
        /// virtual-hosted bucket (`bucket.endpoint`) can be reached through a local address or a
        /// proxy when its name does not resolve. `nil` (the default): the URL's host.
        public var connectTo: String?

        /// Creates a configuration.
        public init(
            bucket: String, endpoint: String, region: String = "us-east-1", addressing: Addressing = .path, prefix: String = "spillway-",
            accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, payloadSigning: PayloadSigning = .signed,
            timeout: Duration = .seconds(30), connectTo: String? = nil
        ) {
            self.bucket = bucket
            self.endpoint = endpoint
            self.region = region
            self.addressing = addressing
            self.prefix = prefix
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
            self.payloadSigning = payloadSigning
            self.timeout = timeout
            self.connectTo = connectTo
        }
    }

    /// The store's name, written into pointers: by default `s3://bucket/prefix`.
    public let name: String
    /// The configuration.
    public let configuration: Configuration
    let http: HTTPClient
    let signer: SigV4Signer
    let scheme: String
    let endpointHost: String

    /// Creates a store.
    /// - Parameters:
    ///   - configuration: the bucket, the endpoint and the credentials.
    ///   - name: the name written into pointers (1 to 255 UTF-8 bytes; the same on every
    ///     instance sharing the bucket). By default `s3://bucket/prefix`.
    ///   - httpClient: the HTTP client (AsyncHTTPClient's shared one by default).
    /// - Throws: `.invalidArgument` for an endpoint that is not `http(s)://host[:port]`, a prefix
    ///   with other characters than letters, digits, `-`, `_`, `.` and `~`, or a bad name.
    public init(configuration: Configuration, name: String? = nil, httpClient: HTTPClient = .shared) throws(CacheError) {
        let parts = configuration.endpoint.split(separator: "://", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "http" || parts[0] == "https" else {
            throw CacheError(.invalidArgument, "s3 blob store: endpoint '\(configuration.endpoint)' must be http(s)://host[:port]")
        }
        var host = parts[1]
        while host.hasSuffix("/") { host.removeLast() }
        guard !host.isEmpty, !host.contains("/") else {
            throw CacheError(.invalidArgument, "s3 blob store: endpoint '\(configuration.endpoint)' must be http(s)://host[:port] with no path")
        }
        guard configuration.prefix.utf8.count <= 200, SigV4Signer.uriEncode(configuration.prefix) == configuration.prefix else {
            throw CacheError(.invalidArgument, "s3 blob store: prefix '\(configuration.prefix)' may hold only letters, digits, '-', '_', '.' and '~' (at most 200)")
        }
        let name = name ?? "s3://\(configuration.bucket)/\(configuration.prefix)"
        guard SpillPointer.isValidStoreName(name) else {
            throw CacheError(.invalidArgument, "a blob store's name must be 1...255 UTF-8 bytes")
        }
        self.name = name
        self.configuration = configuration
        self.http = httpClient
        self.scheme = parts[0]
        self.endpointHost = host
        self.signer = SigV4Signer(
            accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey, sessionToken: configuration.sessionToken,
            region: configuration.region)
    }

    // MARK: BlobStore

    public func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        let digest = XXH3.hash128(content)
        var headers: [(String, String)] = [
            ("if-none-match", "*"), ("content-type", "application/octet-stream"),
            ("x-amz-meta-spillway-created", String(metadata.createdAt.millisecondsSince1970)),
            ("x-amz-meta-spillway-digest", digest.description),
        ]
        if let expiry = metadata.expiresAt { headers.append(("x-amz-meta-spillway-expiry", String(expiry.millisecondsSince1970))) }
        if let owner = metadata.ownerKey, let encoded = Self.ownerHeader(owner) { headers.append(("x-amz-meta-spillway-owner", encoded)) }
        let payloadHash =
            configuration.payloadSigning == .signed ? content.withUnsafeReadableBytes { SigV4Signer.sha256Hex($0) } : SigV4Signer.unsignedPayload
        for _ in 0..<3 {
            let id = BlobID.random()
            let response = try await send("PUT", key: objectName(id), headers: headers, body: content, payloadHash: payloadHash, operation: "put")
            switch response.status {
            case 200..<300: return id
            case 412: continue  // an id drawn twice: draw again
            default: throw response.failure("put")
            }
        }
        throw CacheError(.blobStore, "s3 blob store: put: three random ids in a row already existed")
    }

    public func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? {
        let response = try await send("GET", key: objectName(id), operation: "get")
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw response.failure("get") }
        guard let stored = response.headers.first(name: "x-amz-meta-spillway-digest") else {
            throw CacheError(.corruption, "s3 blob store: blob \(id) has no digest metadata")
        }
        guard XXH3.hash128(response.body).description == stored else {
            throw CacheError(.corruption, "s3 blob store: blob \(id): content does not match its stored digest")
        }
        return response.body
    }

    @discardableResult
    public func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        // S3 answers 204 whether or not the object existed: ask first.
        guard try await head(id) != nil else { return false }
        let response = try await send("DELETE", key: objectName(id), operation: "delete")
        guard (200..<300).contains(response.status) || response.status == 404 else { throw response.failure("delete") }
        return response.status != 404
    }

    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool {
        guard let current = try await head(id) else { return false }
        var headers: [(String, String)] = [
            ("x-amz-copy-source", "/" + configuration.bucket + "/" + SigV4Signer.uriEncode(objectName(id), keepSlash: true)),
            ("x-amz-metadata-directive", "REPLACE"), ("content-type", "application/octet-stream"),
            ("x-amz-meta-spillway-created", String(current.metadata.createdAt.millisecondsSince1970)),
        ]
        if let digest = current.digest { headers.append(("x-amz-meta-spillway-digest", digest)) }
        if let expiresAt { headers.append(("x-amz-meta-spillway-expiry", String(expiresAt.millisecondsSince1970))) }
        if let owner = current.metadata.ownerKey, let encoded = Self.ownerHeader(owner) { headers.append(("x-amz-meta-spillway-owner", encoded)) }
        let response = try await send("PUT", key: objectName(id), headers: headers, operation: "setExpiry")
        if response.status == 404 { return false }
        guard response.status == 200, !String(buffer: response.body).contains("<Error>") else { throw response.failure("setExpiry") }
        return true
    }

    public func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
        let limit = max(1, min(limit, 1000))
        var query = [("list-type", "2"), ("max-keys", String(limit)), ("prefix", SigV4Signer.uriEncode(configuration.prefix))]
        if let cursor { query.append(("start-after", SigV4Signer.uriEncode(objectName(cursor)))) }
        let response = try await send("GET", key: nil, query: query, operation: "scan")
        guard response.status == 200 else { throw response.failure("scan") }
        let listing = S3Listing(xml: String(buffer: response.body))
        let ids = listing.keys.compactMap { key in key.hasPrefix(configuration.prefix) ? BlobID(hex: key.dropFirst(configuration.prefix.count)) : nil }
        // The metadata of the page's objects, eight requests at a time.
        var found: [BlobID: Metadata] = [:]
        var failure: CacheError?
        await withTaskGroup(of: (BlobID, Result<Metadata?, CacheError>).self) { group in
            var next = 0
            func addOne() {
                guard next < ids.count else { return }
                let id = ids[next]
                next += 1
                group.addTask {
                    do throws(CacheError) { return (id, .success(try await head(id))) } catch { return (id, .failure(error)) }
                }
            }
            for _ in 0..<8 { addOne() }
            while let (id, result) = await group.next() {
                switch result {
                case .success(let info?): found[id] = info
                case .success(nil): break  // deleted meanwhile
                case .failure(let error): failure = failure ?? error
                }
                addOne()
            }
        }
        if let failure { throw failure }
        let blobs = ids.compactMap { id in found[id].map { BlobInfo(id: id, length: $0.length, metadata: $0.metadata) } }
        let lastID = listing.keys.last.flatMap { BlobID(hex: $0.dropFirst(configuration.prefix.count)) }
        return BlobScanPage(blobs: blobs, next: listing.isTruncated ? lastID : nil)
    }

    // MARK: Requests

    /// The object name of a blob.
    public func objectName(_ id: BlobID) -> String { configuration.prefix + id.description }

    /// The URL, `host` header and signed path of a request for `key` (the bucket itself for `nil`).
    public func target(key: String?) -> (url: String, host: String, path: String) {
        let encodedKey = key.map { SigV4Signer.uriEncode($0, keepSlash: true) }
        switch configuration.addressing {
        case .path:
            let path = "/" + configuration.bucket + (encodedKey.map { "/" + $0 } ?? "")
            return (scheme + "://" + endpointHost + path, endpointHost, path)
        case .virtualHosted:
            let host = configuration.bucket + "." + endpointHost
            let path = "/" + (encodedKey ?? "")
            return (scheme + "://" + host + path, host, path)
        }
    }

    struct Metadata: Sendable {
        var length: Int
        var metadata: BlobMetadata
        var digest: String?
    }

    /// The object's size and metadata, or `nil` when it does not exist.
    func head(_ id: BlobID) async throws(CacheError) -> Metadata? {
        let response = try await send("HEAD", key: objectName(id), operation: "head")
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw response.failure("head") }
        let h = response.headers
        let created = h.first(name: "x-amz-meta-spillway-created").flatMap { Int64($0) } ?? 0
        let expiry = h.first(name: "x-amz-meta-spillway-expiry").flatMap { Int64($0) }
        let owner = h.first(name: "x-amz-meta-spillway-owner").flatMap { Base64.decode($0) }.map { CacheKey(bytes: ByteBuffer(bytes: $0)) }
        return Metadata(
            length: h.first(name: "content-length").flatMap { Int($0) } ?? 0,
            metadata: BlobMetadata(
                createdAt: BlobTimestamp(millisecondsSince1970: created), expiresAt: expiry.map { BlobTimestamp(millisecondsSince1970: $0) }, ownerKey: owner),
            digest: h.first(name: "x-amz-meta-spillway-digest"))
    }

    /// Sends one signed request and reads its whole answer (also a test hook: tests use it to
    /// reach behind the store).
    package func send(
        _ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer? = nil,
        payloadHash: String? = nil, operation: String
    ) async throws(CacheError) -> S3Response {
        let (url, host, path) = target(key: key)
        let hash = payloadHash ?? "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  // SHA-256 of nothing
        let signedHeaders = [("host", host)] + headers
        let added = signer.sign(
            method: method, path: path, query: query, headers: signedHeaders, payloadHash: hash, amzDate: SigV4Signer.amzDate(millisecondsSince1970: BlobClock.wallNow().millisecondsSince1970))
        let address = configuration.connectTo.map { scheme + "://" + $0 + path } ?? url
        var request = HTTPClientRequest(url: query.isEmpty ? address : address + "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signedHeaders + added { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(body)
        }
        let (seconds, attoseconds) = configuration.timeout.components
        let timeout = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        do {
            let response = try await http.execute(request, timeout: timeout)
            let expected = response.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
            var buffer = ByteBuffer()
            if method != "HEAD" {
                buffer.reserveCapacity(expected)
                for try await chunk in response.body {
                    var chunk = chunk
                    buffer.writeBuffer(&chunk)
                }
            }
            return S3Response(status: Int(response.status.code), headers: response.headers, body: buffer)
        } catch {
            let failure = S3BlobStoreError(transport: error, operation: operation)
            throw CacheError(.blobStore, "s3 blob store: \(failure)", underlying: failure)
        }
    }

    /// The owner key as a header value (base64), or `nil` when it would not fit S3's 2 KB of
    /// user metadata (such a blob is reclaimed by its expiry only).
    static func ownerHeader(_ key: CacheKey) -> String? {
        guard key.count <= 1200 else { return nil }
        return Base64.encode(Array(key.bytes.readableBytesView))
    }
}

/// One answer of the object store.
package struct S3Response {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: ByteBuffer

    func failure(_ operation: String) -> CacheError {
        let error = S3BlobStoreError(status: status, xml: String(buffer: body), operation: operation)
        return CacheError(.blobStore, "s3 blob store: \(error)", underlying: error)
    }
}
