public import NIOCore
public import Spillway
public import SpillwayRedis

/// What the proxy does with the upstream's reply to one forwarded command, decided when the
/// command is forwarded and applied when its reply comes back (replies come back in order).
///
/// Only the `releasing…` cases (which hold a plan) are boxed: every other plan is stored in its
/// reply slot without an allocation per command.
public enum ReplyPlan: Sendable {
    /// Forward the reply unchanged.
    case pass
    /// No reply of its own: what the command causes upstream arrives as push messages
    /// (`SUBSCRIBE`'s confirmations), which are forwarded as they come.
    case none
    /// The reply is a value of `key` (the key as the upstream sees it) that may be a spill
    /// pointer: resolve and verify it (`GET`, `GETDEL`, `GETEX`, `GETSET`).
    case resolveValue(CacheKey, route: String?)
    /// The reply is an array of values of these keys (`MGET`).
    case resolveValues([CacheKey], route: String?)
    /// A write: on `-OOM` (or any error) the blobs spilled for it are deleted; on `-OOM`, when
    /// ``WritePlan/shedOnOOM``, the client is answered `+OK` and the write is counted as shed.
    case write(WritePlan)
    /// The reply names keys as the upstream saw them (a blocking pop): map hashed names back to
    /// the client's.
    case mapKeys([ByteBuffer: ByteBuffer])
    /// A command the proxy wrapped in a script that reports which spill pointers it replaced
    /// (`SET`, `DEL`, `EXPIRE`…): apply the plan to the command's own reply inside the script's,
    /// release the blobs of the replaced pointers of these keys, and move the expiry of those
    /// whose TTL changed when `movesExpiry`.
    indirect case releasing(ReplyPlan, keys: [CacheKey], route: String?, movesExpiry: Bool)
    /// The `EXEC` of a command the proxy sent in its own `MULTI`, after a `GETRANGE` of each
    /// key's head (`SET`, `SETEX`, `PSETEX`, `MSET`): its array holds those
    /// heads, then the command's own reply. Apply the plan to that reply and, when the command
    /// succeeded, release the blobs of the pointers those heads name.
    indirect case releasingInTransaction(ReplyPlan, keys: [CacheKey], route: String?)
    /// The reply is the old value of `key`, which the command replaced or removed (`GETSET`,
    /// `SET … GET`, `GETDEL`): apply the plan to it, then release its blob if it is a pointer.
    indirect case releasingOldValue(ReplyPlan, key: CacheKey, route: String?)
    /// `MULTI`, a `GETRANGE` or the command itself, sent by the proxy inside a
    /// ``releasingInTransaction(_:keys:route:)``: nothing reaches the client; an error (a
    /// command refused at queue time, such as `-OOM`) becomes the client's answer when `EXEC`
    /// is refused, the command's own (`isCommand`) before any other.
    case transactionStep(isCommand: Bool)
    /// `EXEC`: the plans of the queued commands, applied to the elements of its array reply.
    case exec([ReplyPlan])
    /// Answer this instead of the reply (a write the spill shed: the upstream deleted the key).
    case replace(RESPValue)
    /// `HELLO`: forward the reply, and note the protocol it switched to.
    case hello
    /// A command the proxy sent itself when connecting (`AUTH`, `SELECT`): nothing reaches the
    /// client unless it fails, when the client gets the error and the connection is closed.
    case handshake(String)
}

/// The write part of a ``ReplyPlan``.
public struct WritePlan: Sendable {
    /// Answer `+OK` to an `-OOM` reply (an unconditional write on a `shed` route).
    public var shedOnOOM: Bool
    /// The blobs spilled for this write, deleted when the write fails.
    public var blobs: [BlobID]
    /// For `SET … GET`: the key whose old value the reply carries (resolved like a `GET`).
    public var returnsValueOf: CacheKey?
    /// The route, for counters and logs.
    public var route: String?
    /// The write's condition (`NX`, `XX`): with ``returnsOld``, how its reply tells that nothing
    /// was stored, so the blobs spilled for it are deleted.
    public var condition: SetOptions.Condition
    /// Whether the reply is the old value (`SET … GET`, `GETSET`) rather than a status.
    public var returnsOld: Bool

    /// Creates a write plan.
    public init(
        shedOnOOM: Bool, blobs: [BlobID] = [], returnsValueOf: CacheKey? = nil, route: String? = nil, condition: SetOptions.Condition = .always,
        returnsOld: Bool = false
    ) {
        self.shedOnOOM = shedOnOOM
        self.blobs = blobs
        self.returnsValueOf = returnsValueOf
        self.route = route
        self.condition = condition
        self.returnsOld = returnsOld
    }

    /// Whether `reply` says the write stored nothing: an error, or a condition not met (`nil`
    /// or `0` from `SET NX`/`XX`, `SETNX`, `MSETNX`; an old value from `SET NX GET`, none from
    /// `SET XX GET`).
    public func storedNothing(_ reply: RESPValue) -> Bool {
        if reply.errorMessage != nil { return true }
        guard condition != .always else { return false }
        if case .integer(let n) = reply { return n == 0 }
        if returnsOld { return condition == .ifNotExists ? !reply.isNull : reply.isNull }
        return reply.isNull
    }
}
