import NIOCore
import Spillway
import SpillwayS3
import Testing

/// The signer against vectors computed by botocore's own `S3SigV4Auth` (the code moto uses to
/// check signatures), printed by `scripts/sigv4-vectors.py` on 2026-12-02 (botocore 1.43.11) and
/// pasted here as literals.
@Suite("SigV4Signer")
struct SigV4SignerTests {
    static let date = "20261202T054100Z"
    static let signer = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func authorization(_ headers: [(String, String)]) -> String? { headers.first { $0.0 == "authorization" }?.1 }

    @Test("a path-style PUT with If-None-Match, metadata and a signed body")
    func putPathStyle() {
        let body = ByteBuffer(string: "hello world")
        let hash = body.withUnsafeReadableBytes { SigV4Signer.sha256Hex($0) }
        #expect(hash == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        let added = Self.signer.sign(
            method: "PUT", path: "/spill-bucket/blobs/00112233445566778899aabbccddeeff", query: [],
            headers: [
                ("Host", "127.0.0.1:9000"), ("If-None-Match", "*"), ("Content-Type", "application/octet-stream"),
                ("x-amz-meta-spillway-expiry", "1800000060000"), ("x-amz-meta-spillway-created", "1800000000000"),
                ("x-amz-meta-spillway-owner", "b3duZXI6MQ=="), ("Content-Length", "11"),
            ], payloadHash: hash, amzDate: Self.date)
        #expect(
            Self.authorization(added)
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/s3/aws4_request, SignedHeaders=content-length;content-type;host;if-none-match;x-amz-content-sha256;x-amz-date;x-amz-meta-spillway-created;x-amz-meta-spillway-expiry;x-amz-meta-spillway-owner, Signature=279e8949d583ad46ded7ed7edda97e1ab932aa4ad4fe060b8b1a4739a5b4f354"
        )
        #expect(added.first { $0.0 == "x-amz-date" }?.1 == Self.date)
        #expect(added.first { $0.0 == "x-amz-content-sha256" }?.1 == hash)
    }

    @Test("a virtual-hosted GET in another region")
    func getVirtualHosted() {
        var signer = Self.signer
        signer.region = "eu-west-1"
        let added = signer.sign(
            method: "GET", path: "/blobs/00112233445566778899aabbccddeeff", query: [], headers: [("Host", "spill-bucket.s3.eu-west-1.amazonaws.com")],
            payloadHash: Self.emptyHash, amzDate: Self.date)
        #expect(
            Self.authorization(added)
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fda673ad372932929da48ef7d73be4ad613df795ad08d40912e7af74a495a0a4"
        )
    }

    @Test("a listing whose query needs escaping; query pairs are sorted")
    func listWithEscapes() {
        #expect(SigV4Signer.uriEncode("blobs/a b+c=") == "blobs%2Fa%20b%2Bc%3D")
        #expect(SigV4Signer.uriEncode("blobs/a b", keepSlash: true) == "blobs/a%20b")
        #expect(SigV4Signer.uriEncode("é~_-.") == "%C3%A9~_-.")
        let added = Self.signer.sign(
            method: "GET", path: "/spill-bucket",
            query: [("list-type", "2"), ("prefix", "blobs%2F"), ("start-after", SigV4Signer.uriEncode("blobs/a b+c=")), ("max-keys", "100")],
            headers: [("Host", "localhost:4566")], payloadHash: Self.emptyHash, amzDate: Self.date)
        #expect(
            Self.authorization(added)
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=7b23039733a1d1d548680c4eab18da76eff8e0c687b35775b65557d4726772cb"
        )
    }

    @Test("temporary credentials sign and send their session token")
    func sessionToken() {
        let signer = SigV4Signer(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret/with+chars=", sessionToken: "FQoGZXIvYXdzEXAMPLE//token+=", region: "us-west-2")
        let added = signer.sign(method: "DELETE", path: "/spill-bucket/blobs/ff", query: [], headers: [("Host", "127.0.0.1:9000")], payloadHash: Self.emptyHash, amzDate: Self.date)
        #expect(added.first { $0.0 == "x-amz-security-token" }?.1 == "FQoGZXIvYXdzEXAMPLE//token+=")
        #expect(
            Self.authorization(added)
                == "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261202/us-west-2/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=97280b34f9a9f9a85cbf0056137692535679b2c745674eca6613eb53a9ce9b65"
        )
    }

    @Test("an unsigned payload; one wrong byte of the secret changes the signature")
    func unsignedPayload() {
        let headers = [("Host", "127.0.0.1:9000"), ("Content-Length", "3")]
        let added = Self.signer.sign(method: "PUT", path: "/spill-bucket/blobs/0f", query: [], headers: headers, payloadHash: SigV4Signer.unsignedPayload, amzDate: Self.date)
        let expected =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/s3/aws4_request, SignedHeaders=content-length;host;x-amz-content-sha256;x-amz-date, Signature=62926986fecb27c738ac177c6e9ea6e4ef3ac4e3b170c0f96ee096634b419b49"
        #expect(Self.authorization(added) == expected)
        var wrong = Self.signer
        wrong.secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"
        #expect(Self.authorization(wrong.sign(method: "PUT", path: "/spill-bucket/blobs/0f", query: [], headers: headers, payloadHash: SigV4Signer.unsignedPayload, amzDate: Self.date)) != expected)
    }

    @Test("amz dates from milliseconds, across a leap day and the epoch")
    func dates() {
        #expect(SigV4Signer.amzDate(millisecondsSince1970: 0) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(millisecondsSince1970: 1_709_164_800_000) == "20240229T000000Z")
        #expect(SigV4Signer.amzDate(millisecondsSince1970: 1_800_000_000_999) == "20270115T080000Z")
    }

    @Test("path-style and virtual-hosted targets")
    func targets() throws {
        let path = try S3BlobStore(configuration: .init(bucket: "b", endpoint: "http://127.0.0.1:9000/", prefix: "p-", accessKeyID: "k", secretAccessKey: "s"))
        let id = BlobID(high: 1, low: 2)
        #expect(path.objectName(id) == "p-00000000000000010000000000000002")
        #expect(path.target(key: "p/x y").url == "http://127.0.0.1:9000/b/p/x%20y")
        #expect(path.target(key: "p/x y").host == "127.0.0.1:9000")
        #expect(path.target(key: nil).path == "/b")
        let virtual = try S3BlobStore(configuration: .init(bucket: "b", endpoint: "https://s3.eu-west-1.amazonaws.com", region: "eu-west-1", addressing: .virtualHosted, accessKeyID: "k", secretAccessKey: "s"))
        #expect(virtual.target(key: "spillway/ab").url == "https://b.s3.eu-west-1.amazonaws.com/spillway/ab")
        #expect(virtual.target(key: "spillway/ab").host == "b.s3.eu-west-1.amazonaws.com")
        #expect(virtual.target(key: "spillway/ab").path == "/spillway/ab")
        #expect(virtual.name == "s3://b/spillway-")
        #expect(throws: CacheError.self) { try S3BlobStore(configuration: .init(bucket: "b", endpoint: "http://x", prefix: "a/b", accessKeyID: "k", secretAccessKey: "s")) }
        #expect(throws: CacheError.self) { try S3BlobStore(configuration: .init(bucket: "b", endpoint: "ftp://x", accessKeyID: "k", secretAccessKey: "s")) }
    }
}
