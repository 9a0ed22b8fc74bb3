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

    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        if operation.isWrite {
            let refuse = state.withLock { s -> Bool in
                s.writesSeen += 1
                if s.refuse { s.writesRefused += 1 }
                return s.refuse
            }
            if refuse { throw CacheError(.outOfMemory, CacheError.redisOOMMessage) }
        }
        return try await base.execute(operation)
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

