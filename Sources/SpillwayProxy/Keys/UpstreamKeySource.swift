public import NIOCore
public import NIOSSL
public import Spillway
public import SpillwayRedis
public import Logging

/// The upstream's key specifications, read with `COMMAND` on a connection of the proxy's own
/// (not a client's), at start and again whenever that connection had to be reopened; and
/// `COMMAND GETKEYS` for commands whose specs are incomplete, on the same connection.
public actor UpstreamKeySource: ProxyKeySource {
    private let configuration: RedisConfiguration
    private let sslContext: NIOSSLContext?
    private let eventLoop: any EventLoop
    private let logger: Logger
    private var connection: RedisConnection?
    private var current = CommandKeyTable()
    /// How many times the table was read (1 after ``load()``; more after reconnects).
    public private(set) var loads = 0

    /// Creates a source; call ``load()`` before serving.
    public init(configuration: RedisConfiguration, sslContext: NIOSSLContext?, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.sslContext = sslContext
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Connects and reads the table.
    /// - Throws: `.connection` when the upstream cannot be reached, `.protocolError` when it
    ///   does not answer `COMMAND` with a list.
    public func load() async throws(CacheError) {
        let connection = try await RedisConnection.connect(configuration: configuration, sslContext: sslContext, eventLoop: eventLoop)
        var command = ByteBuffer()
        ProxyRequest("COMMAND").write(into: &command)
        let reply = try await connection.send(command)
        guard reply.elements != nil else {
            await connection.close()
            throw CacheError(.protocolError, "the upstream answered COMMAND with \(reply.errorMessage ?? "something that is not a list")")
        }
        if let old = self.connection { await old.close() }
        self.connection = connection
        current = CommandKeyTable(commandReply: reply)
        loads += 1
        logger.info("read the upstream's key specifications", metadata: ["commands": "\(current.count)", "loads": "\(loads)"])
    }

    public func table() async -> CommandKeyTable {
        if connection?.isActive != true {
            do {
                try await load()
            } catch {
                logger.warning("cannot reread the upstream's key specifications; using the last ones", metadata: ["error": "\(error)"])
            }
        }
        return current
    }

    public func getKeys(_ request: ProxyRequest) async throws(CacheError) -> [ByteBuffer] {
        if connection?.isActive != true { try await load() }
        guard let connection else { throw CacheError(.connection, "no upstream connection for COMMAND GETKEYS") }
        var command = ByteBuffer()
        ProxyRequest([ByteBuffer(string: "COMMAND"), ByteBuffer(string: "GETKEYS")] + request.arguments).write(into: &command)
        let reply = try await connection.send(command)
        if let message = reply.errorMessage { throw CacheError(.other, message) }
        return (reply.elements ?? []).compactMap(\.bytes)
    }

    /// Closes the connection.
    public func close() async {
        await connection?.close()
        connection = nil
    }
}
