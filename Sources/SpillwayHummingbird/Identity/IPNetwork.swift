/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), as a list of trusted proxies
/// names them. A bare address is a network of that one address.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// Why a CIDR string was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The refused text.
        public let text: String
        /// What is wrong with it.
        public let reason: String
        public var description: String { "invalid network '\(text)': \(reason)" }
    }

    /// The network's first address (host bits cleared).
    public let address: IPAddress
    /// The number of leading bits that every address of the network shares.
    public let prefixLength: Int

    /// Parses `ADDRESS/BITS` or a bare `ADDRESS`.
    /// - Throws: ``ParseError`` for anything that is not an IPv4 or IPv6 network, or a prefix
    ///   length beyond the address's width.
    public init(_ text: String) throws(ParseError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let parsed = IPAddress(parts[0]) else {
            throw ParseError(text: text, reason: "expected an IPv4 or IPv6 address, optionally with /BITS")
        }
        let width = parsed.bytes.count * 8
        var bits = width
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...width).contains(n), parts[1].allSatisfy(\.isNumber) else {
                throw ParseError(text: text, reason: "the prefix length must be a number from 0 to \(width)")
            }
            bits = n
        }
        self.prefixLength = bits
        self.address = IPAddress(masking: parsed, to: bits)
    }

    /// Whether `address` belongs to this network (an IPv4 address never belongs to an IPv6
    /// network, except through its IPv4-mapped form, which ``IPAddress`` already reduces).
    public func contains(_ other: IPAddress) -> Bool {
        other.bytes.count == address.bytes.count && IPAddress(masking: other, to: prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

extension IPAddress {
    /// The address with every bit after the first `bits` cleared.
    init(masking address: IPAddress, to bits: Int) {
        var bytes = address.bytes
        for index in bytes.indices {
            let keep = max(0, min(8, bits - index * 8))
            bytes[index] &= keep == 8 ? 0xFF : ~(0xFF >> UInt8(keep))
        }
        self.init(unchecked: bytes)
    }
}
