public import Spillway

/// One command of a ``RedisClusterClient/pipeline(_:resendIfLost:)``: its arguments, and the key
/// whose slot decides the master it goes to (every key of the command must hash to that slot,
/// or Redis answers `CROSSSLOT`).
public struct RedisClusterCommand: Sendable {
    /// The key that routes the command.
    public var key: CacheKey
    /// The command and its arguments, e.g. `["INCRBY", key, 5]`.
    public var arguments: [any RESPArgument]

    /// Creates a command routed by `key`.
    public init(key: CacheKey, _ arguments: [any RESPArgument]) {
        self.key = key
        self.arguments = arguments
    }
}
