import NIOCore
import Spillway

extension RedisClient {
    /// Set by ``RedisClusterClient`` while it follows an `ASK` redirection: every command the
    /// client sends goes out as `ASKING` followed by the command, written together on the same
    /// connection (the server honours `ASKING` for the next command of that connection only;
    /// inside `MULTI` it lasts until `EXEC`).
    @TaskLocal static var askingRedirect = false

    private static let askingCommand: StaticString = "*1\r\n$6\r\nASKING\r\n"

    /// Sends one command on `connection`, preceded by `ASKING` when following an `ASK`.
    static func send(_ command: ByteBuffer, on connection: RedisConnection) async throws(CacheError) -> RESPValue {
        guard askingRedirect else { return try await connection.send(command) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(command.readableBytes + 16)
        buffer.writeStaticString(askingCommand)
        buffer.writeImmutableBuffer(command)
        let replies = try await connection.send(buffer, count: 2)
        _ = try checked(replies[0])
        return replies[1]
    }

    /// Sends `count` commands on `connection`, preceded by `ASKING` when following an `ASK`.
    static func send(_ commands: ByteBuffer, count: Int, on connection: RedisConnection) async throws(CacheError) -> [RESPValue] {
        guard askingRedirect else { return try await connection.send(commands, count: count) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(commands.readableBytes + 16)
        buffer.writeStaticString(askingCommand)
        buffer.writeImmutableBuffer(commands)
        let replies = try await connection.send(buffer, count: count + 1)
        _ = try checked(replies[0])
        return Array(replies.dropFirst())
    }
}
