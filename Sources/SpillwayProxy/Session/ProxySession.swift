import NIOCore
public import SpillwayRedis

/// The protocol state of one client connection, as a pure value: transactions, pub/sub,
/// `MONITOR`, the protocol version and the client's name. The connection asks it what to do with
/// each command before forwarding it, and how to read each reply; it never touches a socket.
///
/// - Commands between `MULTI` and `EXEC` are answered `+QUEUED` by the upstream; their plans are
///   kept and applied to the elements of `EXEC`'s array reply. `DISCARD` drops them. Inside a
///   transaction nothing is shed: an `-OOM` at queue time aborts the `EXEC`, as Redis says.
/// - `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` and their `UN…` forms have no reply of their own:
///   their confirmations, like the messages, are push messages (RESP3 `>`; in RESP2 arrays whose
///   first element is `subscribe`, `message`, …), forwarded as they come without taking a
///   command's place in the reply order.
/// - After `MONITOR` every reply is forwarded as it comes.
/// - `CLIENT REPLY OFF|SKIP` is refused: replies could no longer be matched to commands.
public struct ProxySession: Sendable {
    /// Whether a `MULTI` is open.
    public private(set) var inTransaction = false
    /// The plans of the commands queued since `MULTI`.
    public private(set) var queued: [ReplyPlan] = []
    /// Whether the connection has used pub/sub (RESP2 pub/sub arrays are then read as pushes).
    public private(set) var usedPubSub = false
    /// Whether `MONITOR` was sent: every reply is then a push.
    public private(set) var monitoring = false
    /// The name the client gave itself (`CLIENT SETNAME`, `HELLO … SETNAME`): the route its
    /// keys are resolved under, when the policy has one of that name.
    public private(set) var clientName: String?
    /// Whether the connection speaks RESP3 (a `HELLO 3` was answered).
    public private(set) var resp3 = false
    /// Whether the client may have keys under `WATCH` (from `WATCH` until `EXEC`, `DISCARD`,
    /// `UNWATCH` or `RESET`).
    public private(set) var watching = false

    /// How a command that may replace a spill pointer can be sent now: in a `MULTI` of the
    /// proxy's own only outside the client's transaction (it would nest), while nothing is
    /// watched (its `EXEC` would drop the client's watches) and outside pub/sub and `MONITOR`
    /// (where `MULTI` is refused); otherwise inside the release script.
    public var releaseFraming: ProxyRules.ReleaseFraming {
        inTransaction || watching || usedPubSub || monitoring ? .script : .transaction
    }

    /// What to do with a command.
    public enum Admission: Sendable, Equatable {
        /// Forward it (after the key guard and the spill).
        case forward
        /// Answer this error and do not forward it.
        case refuse(String)
    }

    /// How to read one reply.
    public enum ReplyKind: Sendable, Equatable {
        /// The reply to the oldest command still waiting.
        case reply
        /// A push message: forward it, it answers no command.
        case push
    }

    /// Creates the state of a new connection.
    public init() {}

    /// Whether the proxy may forward `request` at all.
    public func admit(_ request: ProxyRequest) -> Admission {
        if request.name == "CLIENT", request.upperArgument(1) == "REPLY", let mode = request.upperArgument(2), mode != "ON" {
            return .refuse("ERR CLIENT REPLY \(mode) is not supported by spillway proxy (replies could not be matched to commands)")
        }
        return .forward
    }

    /// Records that `request` is forwarded with `plan`, and returns the plan its reply slot takes.
    public mutating func forwarded(_ request: ProxyRequest, plan: ReplyPlan) -> ReplyPlan {
        let name = request.name
        switch name {
        case "MULTI":
            if !inTransaction {
                inTransaction = true
                queued = []
            }
            return .pass
        case "WATCH":
            watching = true
            return .pass
        case "UNWATCH" where !inTransaction:
            watching = false
            return .pass
        case "EXEC":
            guard inTransaction else { return .pass }
            inTransaction = false
            watching = false
            defer { queued = [] }
            return .exec(queued)
        case "DISCARD":
            if inTransaction { watching = false }
            inTransaction = false
            queued = []
            return .pass
        case "RESET":
            inTransaction = false
            queued = []
            monitoring = false
            watching = false
            clientName = nil
            resp3 = false
            return .pass
        default:
            break
        }
        if inTransaction {
            queued.append(Self.withoutShedding(plan))
            return .pass
        }
        switch name {
        case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE":
            usedPubSub = true
            return request.count >= 2 ? .none : .pass
        case "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
            if usedPubSub { return .none }
            return .pass
        case "MONITOR":
            monitoring = true
            return .pass
        case "CLIENT":
            if request.upperArgument(1) == "SETNAME", request.count == 3 {
                clientName = String(decoding: request.arguments[2].readableBytesView, as: UTF8.self)
            }
            return plan
        case "HELLO":
            if let index = (2..<request.count).first(where: { request.upperArgument($0) == "SETNAME" }), index + 1 < request.count {
                clientName = String(decoding: request.arguments[index + 1].readableBytesView, as: UTF8.self)
            }
            return .hello
        default:
            return plan
        }
    }

    /// How to read `reply`.
    public func kind(of reply: RESPValue) -> ReplyKind {
        if monitoring { return .push }
        if case .push = reply { return .push }
        guard usedPubSub, case .array(let elements) = reply, elements.count == 3 || elements.count == 4,
            let first = elements[0].bytes, first.readableBytes <= 12
        else { return .reply }
        switch String(decoding: first.readableBytesView, as: UTF8.self).lowercased() {
        case "message", "pmessage", "smessage", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
            return .push
        default:
            return .reply
        }
    }

    /// Records a reply to `HELLO`: a map means the connection now speaks RESP3.
    public mutating func helloAnswered(_ reply: RESPValue) {
        switch reply {
        case .map: resp3 = true
        case .array: resp3 = false
        default: break
        }
    }

    /// A plan for a command inside a transaction: never answered `+OK` on `-OOM` (its reply is
    /// `QUEUED` or an error that aborts the `EXEC`).
    static func withoutShedding(_ plan: ReplyPlan) -> ReplyPlan {
        switch plan {
        case .write(var write):
            write.shedOnOOM = false
            return .write(write)
        case .releasing(let inner, let keys, let route, let movesExpiry):
            return .releasing(withoutShedding(inner), keys: keys, route: route, movesExpiry: movesExpiry)
        case .releasingInTransaction(let inner, let keys, let route):
            return .releasingInTransaction(withoutShedding(inner), keys: keys, route: route)
        case .releasingOldValue(let inner, let key, let route):
            return .releasingOldValue(withoutShedding(inner), key: key, route: route)
        default:
            return plan
        }
    }
}
