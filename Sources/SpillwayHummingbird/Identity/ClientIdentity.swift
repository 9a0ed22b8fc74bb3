public import HTTPTypes
public import NIOCore

/// Who the client of a request is, for rate limiting: the connection's peer address, or, when
/// that peer is a proxy you trust, the address that proxy saw.
///
/// The rules, in order:
/// 1. The peer address of the connection is the client, unless it belongs to one of
///    ``trustedProxies``. With no trusted proxies (the default), `X-Forwarded-For` is ignored
///    entirely: a client cannot choose its own identity by sending the header.
/// 2. When the peer is a trusted proxy, the `X-Forwarded-For` hops are read from the right (the
///    hop that proxy appended) to the left, skipping every hop that is itself a trusted proxy; the
///    first hop that is not trusted is the client. Hops further left were written by whoever sent
///    the request and are never believed.
/// 3. When every hop is trusted, the leftmost one is the client. When a hop is not an address
///    (garbage, `unknown`), the walk stops and the last trusted address before it is the client,
///    so garbage can never pick an identity either.
/// 4. A Unix domain socket peer is the client `unix:<path>` (every request through that socket
///    shares one bucket; put the proxy on TCP and list it here to tell its clients apart).
///
/// The identity is the address's textual form (`192.0.2.1`, `2001:db8:0:0:0:0:0:1`), with
/// IPv4-mapped IPv6 addresses reduced to IPv4.
public struct ClientIdentity: Sendable, Hashable {
    /// Networks whose connections are proxies allowed to name the client in `X-Forwarded-For`.
    public var trustedProxies: [IPNetwork]

    /// The `X-Forwarded-For` header field.
    public static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// Creates the rule set.
    /// - Parameter trustedProxies: the reverse proxies and load balancers in front of the
    ///   service (their addresses as the service sees them). Empty by default: only the peer
    ///   address counts.
    public init(trustedProxies: [IPNetwork] = []) {
        self.trustedProxies = trustedProxies
    }

    /// Creates the rule set from CIDR strings (`"10.0.0.0/8"`, `"::1"`).
    /// - Throws: ``IPNetwork/ParseError`` for the first string that is not a network.
    public init(trustedProxies: [String]) throws(IPNetwork.ParseError) {
        var networks: [IPNetwork] = []
        for text in trustedProxies { networks.append(try IPNetwork(text)) }
        self.init(trustedProxies: networks)
    }

    /// The client of a request that arrived from `peer` with these header fields; `nil` only
    /// when the peer is unknown (the transport has no address).
    public func client(peer: SocketAddress?, headers: HTTPFields) -> String? {
        guard let peer else { return nil }
        guard let peerIP = IPAddress(peer) else {
            return "unix:\(peer.pathname ?? "")"
        }
        return client(peerIP: peerIP, forwardedFor: headers[values: Self.forwardedFor]).description
    }

    /// The client given the peer's address and the `X-Forwarded-For` field values, in order.
    public func client(peerIP: IPAddress, forwardedFor: [String]) -> IPAddress {
        guard isTrusted(peerIP) else { return peerIP }
        var current = peerIP
        for value in forwardedFor.reversed() {
            for hop in value.split(separator: ",", omittingEmptySubsequences: false).reversed() {
                guard let address = IPAddress(forwardedHop: hop) else { return current }
                current = address
                if !isTrusted(address) { return address }
            }
        }
        return current
    }

    /// Whether `address` is one of the trusted proxies.
    public func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}
