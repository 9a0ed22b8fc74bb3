import NIOCore

/// Encodes commands as RESP arrays of bulk strings, the only form Redis accepts from a client.
///
/// The connection writes what this produces and never looks inside; the hot paths of
/// ``RedisClient/execute(_:)`` write their fixed commands with the same `ByteBuffer` writers
/// (``RESPArgument``) without building an argument array.
enum RedisCommandEncoder {
    /// Encodes one command.
    static func encode(_ args: [any RESPArgument]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64)
        append(args, to: &buffer)
        return buffer
    }

    /// Appends one command to `buffer` (a pipeline is several appended to one buffer).
    static func append(_ args: [any RESPArgument], to buffer: inout ByteBuffer) {
        buffer.writeRESPArrayHeader(args.count)
        // By index: the existential is used in place, not copied out (a retain and a release
        // per argument).
        for i in args.indices { args[i].writeBulk(into: &buffer) }
    }
}
