public import NIOCore

/// An IPv4 or IPv6 address, as rate-limit identities and trusted-proxy checks compare them.
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 address they map, so that a
/// dual-stack listener identifies an IPv4 client the same way as an IPv4 listener does.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses a textual address (`192.0.2.1`, `2001:db8::1`), with no port and no brackets.
    /// Returns `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= 64,
            let address = try? SocketAddress(ipAddress: String(text), port: 0)
        else { return nil }
        self.init(address)
    }

    /// The address of an IP socket address; `nil` for a Unix domain socket.
    public init?(_ address: SocketAddress) {
        // The address bytes sit at the same offsets of sockaddr_in (4) and sockaddr_in6 (8) on
        // Linux and Darwin.
        let all: [UInt8]
        switch address {
        case .v4:
            all = address.withSockAddr { pointer, _ in Array(UnsafeRawBufferPointer(start: pointer, count: 8)[4..<8]) }
        case .v6:
            all = address.withSockAddr { pointer, _ in Array(UnsafeRawBufferPointer(start: pointer, count: 24)[8..<24]) }
        case .unixDomainSocket:
            return nil
        }
        if all.count == 16, all[0..<10].allSatisfy({ $0 == 0 }), all[10] == 0xFF, all[11] == 0xFF {
            self.bytes = Array(all[12..<16])
        } else {
            self.bytes = all
        }
    }

    /// Parses one hop of an `X-Forwarded-For` header: an address, optionally with a port
    /// (`192.0.2.1:4711`, `[2001:db8::1]:4711`), surrounding spaces ignored. `nil` if it is not one.
    public init?(forwardedHop hop: Substring) {
        var text = hop.trimmingPrefix(while: \.isWhitespace)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            self.init(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            self.init(text[..<colon])
        } else {
            self.init(text)
        }
    }

    /// An address from its bytes, unchecked (4 or 16 of them).
    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether this is an IPv4 address.
    public var isIPv4: Bool { bytes.count == 4 }

    /// The usual textual form (`192.0.2.1`, or colon-separated hexadecimal groups for IPv6).
    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}
