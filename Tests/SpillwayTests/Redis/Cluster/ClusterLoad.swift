import NIOCore
import Spillway
import SpillwayRedis
import Synchronization
import Testing

/// A write/read load on a cluster client that keeps a ledger of what was acknowledged, so a
/// fault test can check afterwards that no read returned wrong bytes, nothing acknowledged was
/// lost, and how long writes stopped being acknowledged.
///
/// Each writer owns its keys and writes them in turn with increasing versions; a value is
/// `<key>|<version>|` padded with a byte derived from the version, so any read can be checked.
final class ClusterLoad: Sendable {
    struct KeyState {
        var acked = 0
        var attempted = 0
    }

    struct Ledger {
        var keys: [KeyState]
        var acks: [(at: ContinuousClock.Instant, key: Int)] = []
        var failures: [(at: ContinuousClock.Instant, key: Int, error: CacheError)] = []
        var reads = 0
        var wrong: [String] = []
        var running = true
    }

    let keys: [CacheKey]
    let ledger: Mutex<Ledger>

    init(keys: [CacheKey]) {
        self.keys = keys
        self.ledger = Mutex(Ledger(keys: Array(repeating: KeyState(), count: keys.count)))
    }

    static func value(_ key: CacheKey, _ version: Int) -> ByteBuffer {
        var buffer = ByteBuffer(string: "\(key.string)|\(version)|")
        buffer.writeRepeatingByte(UInt8(truncatingIfNeeded: 0x41 + version % 26), count: 64 + version % 64)
        return buffer
    }

    /// The version a value holds, or `nil` when it is not a well-formed value of `key`.
    static func version(of value: ByteBuffer, key: CacheKey) -> Int? {
        let text = String(decoding: value.readableBytesView, as: UTF8.self)
        let prefix = key.string + "|"
        guard text.hasPrefix(prefix) else { return nil }
        let rest = text.dropFirst(prefix.count)
        guard let bar = rest.firstIndex(of: "|"), let version = Int(rest[..<bar]) else { return nil }
        return value == Self.value(key, version) ? version : nil
    }

    var acknowledged: Int { ledger.withLock { $0.acks.count } }

    func stop() { ledger.withLock { $0.running = false } }

    /// Runs `writers` writers and `readers` readers until ``stop()``.
    func run(_ client: RedisClusterClient, writers: Int, readers: Int) async {
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask { await self.write(client, writer: w, of: writers) }
            }
            for r in 0..<readers {
                group.addTask { await self.read(client, seed: r) }
            }
        }
    }

    private func write(_ client: RedisClusterClient, writer: Int, of writers: Int) async {
        let mine = Array(stride(from: writer, to: keys.count, by: writers))
        var turn = 0
        while ledger.withLock({ $0.running }) {
            let index = mine[turn % mine.count]
            turn += 1
            let version = ledger.withLock { s in
                s.keys[index].attempted += 1
                return s.keys[index].attempted
            }
            do {
                _ = try await client.execute(.set(keys[index], Self.value(keys[index], version), SetOptions()))
                ledger.withLock { s in
                    s.keys[index].acked = version
                    s.acks.append((.now, index))
                }
            } catch {
                ledger.withLock { $0.failures.append((.now, index, error)) }
            }
        }
    }

    private func read(_ client: RedisClusterClient, seed: Int) async {
        var i = seed
        while ledger.withLock({ $0.running }) {
            i = (i &* 1_103_515_245 &+ 12345) & 0x7FFF_FFFF
            let index = i % keys.count
            let ackedBefore = ledger.withLock { $0.keys[index].acked }
            do {
                let reply = try await client.execute(.get(keys[index]))
                let attemptedAfter = ledger.withLock { $0.keys[index].attempted }
                guard case .value(let value) = reply else {
                    ledger.withLock { $0.wrong.append("not a value: \(reply)") }
                    continue
                }
                let problem: String?
                if let value {
                    if let version = Self.version(of: value, key: keys[index]) {
                        problem = version < ackedBefore || version > attemptedAfter ? "\(keys[index].string): read v\(version), acked v\(ackedBefore) before" : nil
                    } else {
                        problem = "\(keys[index].string): wrong bytes \(String(decoding: value.readableBytesView.prefix(40), as: UTF8.self))"
                    }
                } else {
                    problem = ackedBefore > 0 ? "\(keys[index].string): missing, acked v\(ackedBefore) before" : nil
                }
                ledger.withLock { s in
                    s.reads += 1
                    if let problem { s.wrong.append(problem) }
                }
            } catch {
                // A failed read returns nothing wrong; failures are counted with the writes'.
                ledger.withLock { $0.failures.append((.now, index, error)) }
            }
        }
    }

    /// Reads every key once more and returns the problems: a key whose value is older than its
    /// last acknowledged write (lost) or not one this load wrote.
    func verifyFinal(_ client: RedisClusterClient) async throws -> [String] {
        guard case .values(let values) = try await client.execute(.mget(keys)) else { return ["mget did not return values"] }
        let states = ledger.withLock { $0.keys }
        var problems: [String] = []
        for (index, value) in values.enumerated() {
            let state = states[index]
            guard let value else {
                if state.acked > 0 { problems.append("\(keys[index].string): lost (acked v\(state.acked), now missing)") }
                continue
            }
            guard let version = Self.version(of: value, key: keys[index]) else {
                problems.append("\(keys[index].string): wrong bytes")
                continue
            }
            if version < state.acked || version > state.attempted {
                problems.append("\(keys[index].string): holds v\(version), acked v\(state.acked), attempted v\(state.attempted)")
            }
        }
        return problems
    }

    /// The longest time after `start` in which no write to a key in `affected` was acknowledged
    /// (from `start` to the first such acknowledgement, and between consecutive ones, up to the
    /// last one).
    func longestAckGap(after start: ContinuousClock.Instant, affected: Set<Int>) -> (gap: Duration, acksAfter: Int) {
        let times = ledger.withLock { s in s.acks.filter { $0.at >= start && affected.contains($0.key) }.map(\.at) }
        var previous = start
        var longest = Duration.zero
        for time in times {
            longest = max(longest, time - previous)
            previous = time
        }
        return (longest, times.count)
    }
}
