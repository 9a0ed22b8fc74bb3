internal import Crypto

/// AWS Signature Version 4 for S3 requests (header authentication), on swift-crypto.
///
/// The caller gives the request as it will be sent: the method, the path and query already
/// percent-encoded (``uriEncode(_:keepSlash:)``), every header to sign (a `host` header among
/// them), and the payload's SHA-256 in hex or `UNSIGNED-PAYLOAD`. ``sign(method:path:query:headers:payloadHash:amzDate:)``
/// returns the headers to add: `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with
/// temporary credentials) and `authorization`. Checked against vectors computed by botocore's own
/// `S3SigV4Auth` (SigV4SignerTests; scripts/sigv4-vectors.py prints them).
public struct SigV4Signer: Sendable {
    /// The access key id.
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// The session token of temporary credentials, if any.
    public var sessionToken: String?
    /// The region (`us-east-1`, ...).
    public var region: String
    /// The service (`s3`).
    public var service: String

    /// The payload hash that signs no payload (`UNSIGNED-PAYLOAD`).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// Creates a signer.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// Signs a request.
    /// - Parameters:
    ///   - method: `GET`, `PUT`, `HEAD`, `DELETE`, ...
    ///   - path: the percent-encoded path, starting with `/`.
    ///   - query: the query's pairs, each name and value already percent-encoded.
    ///   - headers: every header to sign (names in any case); must include `host`.
    ///   - payloadHash: the body's SHA-256 in lowercase hex, or ``unsignedPayload``.
    ///   - amzDate: the request time, `yyyyMMdd'T'HHmmss'Z'` in UTC.
    /// - Returns: the headers to add to the request, in this order: `x-amz-date`,
    ///   `x-amz-content-sha256`, `x-amz-security-token` (when there is a token), `authorization`.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, amzDate: String
    ) -> [(String, String)] {
        var added = [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        if let sessionToken { added.append(("x-amz-security-token", sessionToken)) }
        var all: [(String, String)] = []
        for (name, value) in headers + added {
            all.append((name.lowercased(), Self.trimmed(value)))
        }
        // One line per name: repeated names join their values with commas, in order.
        var merged: [(String, String)] = []
        for (name, value) in all.sorted(by: { $0.0 < $1.0 }) {
            if let last = merged.last, last.0 == name {
                merged[merged.count - 1].1 = last.1 + "," + value
            } else {
                merged.append((name, value))
            }
        }
        let signedHeaders = merged.map(\.0).joined(separator: ";")
        let canonicalQuery = query.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = [
            method, path, canonicalQuery,
            merged.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        added.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The SHA-256 of `bytes` in lowercase hex (a payload hash).
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// Percent-encodes `text` as SigV4 wants: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` when
    /// `keepSlash`) becomes `%XX` in uppercase hex.
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let digits = Array("0123456789ABCDEF".utf8)
        for c in text.utf8 {
            let unreserved = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F || c == 0x2E || c == 0x7E
            if unreserved || (keepSlash && c == 0x2F) {
                out.unicodeScalars.append(Unicode.Scalar(c))
            } else {
                out += "%" + String(decoding: [digits[Int(c >> 4)], digits[Int(c & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// `yyyyMMdd'T'HHmmss'Z'` for a time in milliseconds since 1970 (UTC).
    public static func amzDate(millisecondsSince1970 ms: Int64) -> String {
        let seconds = ms / 1000
        let days = seconds / 86400
        let rest = seconds % 86400
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(rest / 3600, 2) + pad(rest % 3600 / 60, 2) + pad(rest % 60, 2) + "Z"
    }

    static func trimmed(_ value: String) -> String {
        // Leading and trailing spaces removed, inner runs of spaces made one.
        var out = ""
        var pendingSpace = false
        for ch in value {
            if ch == " " || ch == "\t" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(ch)
            }
        }
        return out
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
