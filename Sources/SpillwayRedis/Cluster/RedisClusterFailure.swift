import NIOCore
import NIOPosix
import Spillway

/// How the cluster client treats a node's failure: the redirections and refusals that Redis
/// Cluster answers with, and connection failures, told apart from every other error.
enum RedisClusterFailure: Equatable {
    /// `MOVED slot host:port`: the slot has a new master.
    case moved(slot: Int, RedisClusterNodeAddress)
    /// `ASK slot host:port`: the slot is migrating and this key is (or will be) on the target.
    case ask(slot: Int, RedisClusterNodeAddress)
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`: wait and send again.
    case transient(clusterDown: Bool)
    /// `READONLY`: the node is a replica now.
    case readOnly
    /// The command never reached the node (no connection could be opened, or it closed first):
    /// sending it again is always safe.
    case notSent
    /// The connection broke with the command in flight: it may or may not have run.
    case lost
    /// Anything else: the operation's own error.
    case other

    init(_ error: CacheError) {
        switch error.code {
        case .connection:
            self = Self.neverSent(error) ? .notSent : .lost
            return
        case .busy, .other, .execAbort:
            break
        default:
            self = .other
            return
        }
        let message = error.message
        let word = message.prefix { $0 != " " }
        switch word {
        case "MOVED", "ASK":
            let parts = message.split(separator: " ")
            guard parts.count >= 3, let slot = Int(parts[1]), (0..<RedisClusterSlot.count).contains(slot),
                let address = RedisClusterNodeAddress(parts[2])
            else {
                self = .other
                return
            }
            self = word == "MOVED" ? .moved(slot: slot, address) : .ask(slot: slot, address)
        case "TRYAGAIN", "LOADING", "MASTERDOWN":
            self = .transient(clusterDown: false)
        case "CLUSTERDOWN":
            self = .transient(clusterDown: true)
        case "READONLY":
            self = .readOnly
        default:
            self = .other
        }
    }

    /// Whether a `.connection` error happened before the command was written.
    private static func neverSent(_ error: CacheError) -> Bool {
        switch error.underlying {
        case is RedisRequestNotSent, is NIOConnectionError: return true
        case let channel as ChannelError:
            if case .connectTimeout = channel { return true }
            return false
        case nil: return error.message.hasSuffix("(backing off)")
        default: return false
        }
    }
}
