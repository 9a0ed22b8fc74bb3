import NIOCore
import Spillway
internal import Synchronization

/// The state a ``FaultProxy`` shares with its channel handlers: the toxics, the accept mode,
/// the live connections and the counters. Handlers read it on their event loop; tests change it
/// from anywhere.
final class ProxyShared: Sendable {
    struct State {
        var toxics: [ProxyDirection: ProxyToxics] = [.upstream: .none, .downstream: .none]
        var acceptMode: ProxyAcceptMode = .forward
        var random: SplitMix64
        var connections: [ObjectIdentifier: ProxyConnection] = [:]
        var accepted = 0
        var resets = 0
        var bytes: [ProxyDirection: Int] = [.upstream: 0, .downstream: 0]
        var dropped: [ProxyDirection: Int] = [.upstream: 0, .downstream: 0]
    }

    let state: Mutex<State>

    init(seed: UInt64) {
        state = Mutex(State(random: SplitMix64(seed: seed)))
    }

    /// The toxics for a direction, with this chunk's latency (jitter drawn) resolved.
    func toxics(_ direction: ProxyDirection) -> (toxics: ProxyToxics, delay: Duration) {
        state.withLock { s in
            let t = s.toxics[direction] ?? .none
            var delay = t.latency
            if t.jitter > .zero {
                delay += .nanoseconds(Int64(Double(t.jitter.nanoseconds) * s.random.nextUnit()))
            }
            return (t, delay)
        }
    }

    func add(_ connection: ProxyConnection) {
        state.withLock { s in
            s.accepted += 1
            s.connections[ObjectIdentifier(connection)] = connection
        }
    }

    func remove(_ connection: ProxyConnection) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    func countBytes(_ n: Int, _ direction: ProxyDirection) {
        state.withLock { $0.bytes[direction, default: 0] += n }
    }

    func countDropped(_ n: Int, _ direction: ProxyDirection) {
        state.withLock { $0.dropped[direction, default: 0] += n }
    }

    func countReset() {
        state.withLock { $0.resets += 1 }
    }
}
