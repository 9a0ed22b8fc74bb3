/// The parts of a `ListObjectsV2` answer the store needs: the object names, in order, and
/// whether more follow. Spillway's object names are hex digits under a prefix, so a plain scan
/// for the elements is enough; entities in names are decoded.
struct S3Listing {
    var keys: [String]
    var isTruncated: Bool

    init(xml: String) {
        keys = Self.values(of: "Key", in: xml).map(Self.unescape)
        isTruncated = Self.firstValue(of: "IsTruncated", in: xml) == "true"
    }

    /// Every `<tag>value</tag>` value, in order.
    static func values(of tag: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = xml[...]
        let open = "<\(tag)>"
        let close = "</\(tag)>"
        while let start = rest.firstRange(of: open) {
            rest = rest[start.upperBound...]
            guard let end = rest.firstRange(of: close) else { break }
            out.append(String(rest[..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// The first `<tag>value</tag>` value.
    static func firstValue(of tag: String, in xml: String) -> String? {
        guard let start = xml.firstRange(of: "<\(tag)>"), let end = xml[start.upperBound...].firstRange(of: "</\(tag)>") else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"").replacing("&apos;", with: "'")
            .replacing("&amp;", with: "&")
    }
}
