import NIOCore
import Spillway
import Synchronization

/// A test double: a client that forwards to another, except that while `refuseWrites` is on,
/// every write answers Redis's OOM error, as a full server does. It counts the writes that
/// reached it, so tests can tell a write that was sent from one the breaker held back.
final class SwitchableOOMClient<Base: CacheClient>: CacheClient {
    let base: Base
    private let state = Mutex((refuse: false, writesSeen: 0, writesRefused: 0))

    init(_ base: Base, refuseWrites: Bool = false) {
        self.base = base
        state.withLock { $0.refuse = refuseWrites }
    }

    var refuseWrites: Bool {
        get { state.withLock { $0.refuse } }
        set { state.withLock { $0.refuse = newValue } }
    }

    var writesSeen: Int { state.withLock { $0.writesSeen } }
    var writesRefused: Int { state.withLock { $0.writesRefused } }

    var capabilities: CacheCapabilities { base.capabilities }

    func memoryStats() async throws(CacheError) -> CacheMemoryStats { try await base.memoryStats() }

    /// Counts writes that reached this client, and those refused with OOM (by the switch or by
    /// the backend behind it).
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        guard operation.isWrite else { return try await base.execute(operation) }
        let refuse = state.withLock { s -> Bool in
            s.writesSeen += 1
            if s.refuse { s.writesRefused += 1 }
            return s.refuse
        }
        if refuse { throw CacheError(.outOfMemory, CacheError.redisOOMMessage) }
        do {
            return try await base.execute(operation)
        } catch {
            if error.code == .outOfMemory { state.withLock { $0.writesRefused += 1 } }
            throw error
        }
    }
}

/// Writes filler keys straight to the backend until it refuses one with OOM.
/// - Returns: how many keys were stored.
@discardableResult
func fillUntilOOM(_ client: some CacheClient, prefix: String = "filler:", valueBytes: Int = 200) async throws -> Int {
    // A real Redis counts the refused command's own bytes when it checks `maxmemory`, so smaller
    // writes may still fit after a refusal: keep filling with smaller values until even a
    // one-byte write is refused. Returns how many keys were stored (`prefix0..<n`).
    var size = valueBytes
    var stored = 0
    for _ in 0..<1_000_000 {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        if await refusesWrite(client, CacheKey("\(prefix)\(stored)"), value) {
            if size == 1 { return stored }
            size = max(1, size / 4)
        } else {
            stored += 1
        }
    }
    throw CacheError(.other, "the backend never refused a write")
}

private func refusesWrite(_ client: some CacheClient, _ key: CacheKey, _ value: ByteBuffer) async -> Bool {
    do {
        _ = try await client.execute(.set(key, value, SetOptions()))
        return false
    } catch {
        return error.code == .outOfMemory
    }
}

/// A client wrapper that remembers whether the backend itself refused the last write with OOM,
/// so a test can repeat a write until the backend really refuses it. (A real Redis near its limit
/// accepts a write now and then as its buffers shrink; `MemoryCache` refuses every one.)
final class RefusalProbe<Base: CacheClient>: CacheClient {
    let base: Base
    private let lastRefused = Mutex(false)

    init(_ base: Base) { self.base = base }

    var capabilities: CacheCapabilities { base.capabilities }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { try await base.memoryStats() }

    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        guard operation.isWrite else { return try await base.execute(operation) }
        do {
            let reply = try await base.execute(operation)
            lastRefused.withLock { $0 = false }
            return reply
        } catch {
            lastRefused.withLock { $0 = error.code == .outOfMemory }
            throw error
        }
    }

    /// Runs `attempt(n)` for n = 0, 1, 2… until the backend refused the write it made, and
    /// returns that attempt's result. Each attempt should use a fresh key.
    func untilRefused<R>(maxAttempts: Int = 200, _ attempt: (Int) async throws -> R) async throws -> R {
        for n in 0..<maxAttempts {
            let result = try await attempt(n)
            if lastRefused.withLock({ $0 }) { return result }
        }
        throw CacheError(.other, "the backend accepted \(maxAttempts) writes in a row after being filled")
    }
}
