import Spillway
public import SpillwayRedis

/// Where `spillway proxy` listens and what it forwards to.
public struct ProxyConfiguration: Sendable {
    /// The address to listen on.
    public var listenHost: String
    /// The port to listen on (0: any free port).
    public var listenPort: Int
    /// The upstream Redis: host, port, credentials (sent by the proxy with `AUTH` on every
    /// upstream connection before the client's commands), database, TLS.
    public var upstream: RedisConfiguration
    /// Bounds on what a client may send (the RESP decoder's limits; a larger request closes the
    /// connection with an error).
    public var requestLimits: RESPDecoder.Limits
    /// Where to serve the status JSON (`GET /` on 127.0.0.1), if anywhere.
    public var statusPort: Int?

    /// Creates a configuration.
    public init(
        listenHost: String = "127.0.0.1", listenPort: Int = 6380, upstream: RedisConfiguration = RedisConfiguration(),
        requestLimits: RESPDecoder.Limits = RESPDecoder.Limits(), statusPort: Int? = nil
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.upstream = upstream
        self.requestLimits = requestLimits
        self.statusPort = statusPort
    }

    /// The commands the proxy sends first on each upstream connection: `AUTH` with the
    /// configured credentials, `SELECT` the configured database.
    public var handshake: [ProxyRequest] {
        var commands: [ProxyRequest] = []
        if let password = upstream.password {
            if let username = upstream.username {
                commands.append(ProxyRequest("AUTH", username, password))
            } else {
                commands.append(ProxyRequest("AUTH", password))
            }
        }
        if upstream.database != 0 { commands.append(ProxyRequest("SELECT", "\(upstream.database)")) }
        return commands
    }
}
