public import NIOSSL
public import Spillway

/// How a ``RedisClient`` connects: the server, credentials, database, TLS, timeouts and pool size.
///
/// Its `description`, `debugDescription` and mirror never show the password: interpolating or
/// dumping a configuration (in a log line, an error) prints `password: <redacted>`.
public struct RedisConfiguration: Sendable {
    /// The RESP version to ask for with `HELLO`.
    public enum ProtocolVersion: Int, Sendable, Hashable {
        /// RESP2: no `HELLO`, credentials sent with `AUTH`.
        case resp2 = 2
        /// RESP3 via `HELLO 3`, falling back to RESP2 when the server refuses it.
        case resp3 = 3
    }

    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The ACL user name (`AUTH user pass`); `nil` for the default user.
    public var username: String?
    /// The password; `nil` for no `AUTH`.
    public var password: String?
    /// The database number sent with `SELECT` (0: none sent).
    public var database: Int
    /// TLS settings; `nil` for plain TCP. `rediss://` URLs set the default client configuration.
    /// Whatever is set here, connections never accept less than TLS 1.2 (``effectiveTLS``).
    public var tls: TLSConfiguration?
    /// A PEM file of the certificate authorities to trust for the server's certificate, instead
    /// of the system's (URL: `rediss://…?ca_file=/path/ca.pem`). Only with ``tls``.
    public var tlsCAFile: String?
    /// The name to verify in the server's certificate (default: ``host``).
    public var tlsServerName: String?
    /// The protocol to ask for.
    public var protocolVersion: ProtocolVersion
    /// The most time a connection attempt (TCP, TLS, `HELLO`, `AUTH`, `SELECT`) and its retries
    /// with backoff may take before a command fails with `.connection`.
    public var connectTimeout: Duration
    /// The most time a reply may take. When it passes, the command fails with `.timeout` and its
    /// connection is closed (a late reply could otherwise be matched to a later command).
    public var commandTimeout: Duration
    /// A connection with nothing in flight for this long is closed; `nil` keeps it open.
    public var idleTimeout: Duration?
    /// The most connections the pool opens. Commands beyond that share connections (pipelining).
    public var maxConnections: Int
    /// The most commands one connection holds written and unanswered. A command beyond that
    /// (a server that stopped answering while callers keep sending) fails at once with `.busy`
    /// (failure class `busy`) instead of queueing without bound until the command timeout.
    /// Default ``defaultMaxQueuedCommands``.
    public var maxQueuedCommands: Int
    /// The default of ``maxQueuedCommands``: 4,096.
    public static let defaultMaxQueuedCommands = 4096
    /// The first pause between failed connection attempts; it doubles up to ``maxBackoff``.
    public var initialBackoff: Duration
    /// The longest pause between failed connection attempts.
    public var maxBackoff: Duration
    /// Bounds on the replies the decoder accepts.
    public var decoderLimits: RESPDecoder.Limits

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        tls: TLSConfiguration? = nil,
        tlsServerName: String? = nil,
        tlsCAFile: String? = nil,
        protocolVersion: ProtocolVersion = .resp3,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5),
        idleTimeout: Duration? = .seconds(300),
        maxConnections: Int = 8,
        maxQueuedCommands: Int = RedisConfiguration.defaultMaxQueuedCommands,
        initialBackoff: Duration = .milliseconds(10),
        maxBackoff: Duration = .seconds(1),
        decoderLimits: RESPDecoder.Limits = RESPDecoder.Limits()
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.tlsServerName = tlsServerName
        self.tlsCAFile = tlsCAFile
        self.protocolVersion = protocolVersion
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = max(1, maxConnections)
        self.maxQueuedCommands = max(1, maxQueuedCommands)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.decoderLimits = decoderLimits
    }

    /// Creates a configuration from a URL: `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://…[?ca_file=/path/ca.pem]` for TLS (1.2 at least; `ca_file` names the CAs to
    /// trust instead of the system's). User and password may be percent-encoded. IPv6 hosts go
    /// in brackets.
    /// - Throws: `CacheError(.invalidArgument)` when the URL is malformed, or has an unknown
    ///   query parameter, or `ca_file` without TLS.
    public init(url: String) throws(CacheError) {
        self.init()
        func invalid(_ why: String) -> CacheError {
            CacheError(.invalidArgument, "invalid Redis URL (\(why)); expected redis://[user:pass@]host:port/db or rediss://…")
        }
        var rest = Substring(url)
        if rest.hasPrefix("redis://") {
            rest = rest.dropFirst("redis://".count)
        } else if rest.hasPrefix("rediss://") {
            rest = rest.dropFirst("rediss://".count)
            tls = .makeClientConfiguration()
        } else {
            throw invalid("unknown scheme")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let q = rest.firstIndex(of: "?") {
            for parameter in rest[rest.index(after: q)...].split(separator: "&") {
                let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                switch parts[0] {
                case "ca_file":
                    guard tls != nil else { throw invalid("ca_file needs rediss://") }
                    guard parts.count == 2, !parts[1].isEmpty else { throw invalid("empty ca_file") }
                    tlsCAFile = try Self.percentDecoded(parts[1], invalid)
                default:
                    throw invalid("unknown parameter \(parts[0])")
                }
            }
            rest = rest[..<q]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userinfo[..<colon], invalid)
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...], invalid)
            } else if !userinfo.isEmpty {
                // `redis://secret@host`: a lone userinfo is the password (the default user).
                password = try Self.percentDecoded(userinfo, invalid)
            }
        }
        var hostPart = rest
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("unclosed IPv6 bracket") }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty { throw invalid("junk after host") }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        if !hostPart.isEmpty { host = String(hostPart) }
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else { throw invalid("bad port") }
            port = p
        }
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else { throw invalid("bad database number") }
            database = db
        }
    }

    private static func percentDecoded(_ text: Substring, _ invalid: (String) -> CacheError) throws(CacheError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else {
                    throw invalid("bad percent escape")
                }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension RedisConfiguration {
    /// The TLS settings connections use: ``tls`` with at least TLS 1.2, and ``tlsCAFile`` as the
    /// trust roots when set; `nil` without TLS.
    public var effectiveTLS: TLSConfiguration? {
        guard var tls else { return nil }
        switch tls.minimumTLSVersion {
        case .tlsv1, .tlsv11: tls.minimumTLSVersion = .tlsv12
        default: break
        }
        if let tlsCAFile { tls.trustRoots = .file(tlsCAFile) }
        return tls
    }
}

extension RedisConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration with its password redacted.
    public var description: String {
        var text = "RedisConfiguration(host: \(host), port: \(port)"
        if let username { text += ", username: \(username)" }
        if password != nil { text += ", password: <redacted>" }
        text += ", database: \(database), tls: \(tls == nil ? "off" : "on")"
        if let tlsServerName { text += ", tlsServerName: \(tlsServerName)" }
        if let tlsCAFile { text += ", tlsCAFile: \(tlsCAFile)" }
        text += ", protocol: RESP\(protocolVersion.rawValue), maxConnections: \(maxConnections))"
        return text
    }

    /// The same as ``description``: the password is redacted.
    public var debugDescription: String { description }

    /// A mirror without the password (for `dump` and debuggers).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "username": username as Any, "password": password == nil ? "nil" : "<redacted>",
                "database": database, "tls": tls == nil ? "off" : "on", "tlsServerName": tlsServerName as Any,
                "tlsCAFile": tlsCAFile as Any, "protocolVersion": protocolVersion, "connectTimeout": connectTimeout,
                "commandTimeout": commandTimeout, "idleTimeout": idleTimeout as Any, "maxConnections": maxConnections,
                "maxQueuedCommands": maxQueuedCommands, "initialBackoff": initialBackoff, "maxBackoff": maxBackoff,
                "decoderLimits": decoderLimits,
            ],
            displayStyle: .struct
        )
    }
}
