import Logging
package import NIOCore
package import Spillway
package import SpillwayRedis

// Releasing the blobs of pointers that a client's command replaces or removes.
extension ProxyRules {
    /// Runs a command that may replace or remove the values of `KEYS` and reports, atomically
    /// with it, which of them held what may be a spill pointer, and what became of it.
    ///
    /// `ARGV[1]`: how many bytes of an old value to read (enough for any pointer); `ARGV[2]`: the
    /// envelope magic; `ARGV[3…]`: the command. Before the command, each key's first bytes are
    /// compared with the magic (one `GETRANGE`; a key of another type reads as an error, not the
    /// magic), and only a key that starts with it has its head read. The command runs with
    /// `redis.pcall`, so its error (an `-OOM`, a `WRONGTYPE`) is its reply, unchanged. Replies
    /// `{reply}` when no key held the magic, else `{reply, head1, after1, head2, after2, …}`:
    /// `head` is the old head (or nil), `after` is `-3` when the key no longer holds that head
    /// (overwritten, deleted, expired), else its `PTTL` (the pointer is still live). No shebang:
    /// the server checks OOM only when the command needs memory, so `DEL` and `EXPIRE` keep
    /// working at `maxmemory`.
    static let releaseScript = """
        local n = tonumber(ARGV[1])
        local magic = ARGV[2]
        local heads = {}
        local any = false
        for i = 1, #KEYS do
          heads[i] = false
          if redis.pcall('GETRANGE', KEYS[i], 0, #magic - 1) == magic then
            heads[i] = redis.call('GETRANGE', KEYS[i], 0, n - 1)
            any = true
          end
        end
        local out = {redis.pcall(unpack(ARGV, 3))}
        if not any then return out end
        for i = 1, #KEYS do
          local h = heads[i]
          local after = false
          if h then
            after = -3
            if redis.pcall('GETRANGE', KEYS[i], 0, n - 1) == h then after = redis.call('PTTL', KEYS[i]) end
          end
          out[2 * i] = h
          out[2 * i + 1] = after
        end
        return out
        """

    /// The fixed arguments of a wrapped command, made once.
    static let releaseWords = (
        eval: ByteBuffer(string: "EVAL"), script: ByteBuffer(string: releaseScript), one: ByteBuffer(string: "1"),
        headBytes: ByteBuffer(string: "\(ValueSpill<MemoryBlobStore>.previousHeadBytes)"), magic: ByteBuffer(bytes: SpillEnvelope.magic),
        multiGetRange: ByteBuffer(string: "*1\r\n$5\r\nMULTI\r\n*4\r\n$8\r\nGETRANGE\r\n"), getRange: ByteBuffer(string: "*4\r\n$8\r\nGETRANGE\r\n"),
        exec: ByteBuffer(string: "*1\r\n$4\r\nEXEC\r\n"),
        headRange: { () -> ByteBuffer in
            let last = "\(ValueSpill<MemoryBlobStore>.previousHeadBytes - 1)"
            return ByteBuffer(string: "$1\r\n0\r\n$\(last.utf8.count)\r\n\(last)\r\n")
        }()
    )

    /// The most arguments a wrapped command may have (Lua's `unpack` limit, with room).
    static let maxReleaseArguments = 4000

    /// How a command that may replace or remove a spill pointer goes upstream, so that the proxy
    /// learns, atomically with the command, which pointers it replaced.
    public enum ReleaseFraming: Sendable, Equatable {
        /// `MULTI`, a `GETRANGE` of each key's head, the command as the client sent it, `EXEC`:
        /// no script runs. For the writes that replace every key they name when they succeed
        /// (`SET` without `NX` or `GET`, `SETEX`, `PSETEX`, `MSET`), and only where a `MULTI` of
        /// the proxy's own cannot disturb the client's (see ``ProxySession/releaseFraming``).
        /// Not `DEL` or `UNLINK`: at `maxmemory` Redis refuses every command queued in a
        /// `MULTI`, and a delete must keep working there; they use the script.
        case transaction
        /// Inside one `EVAL` of ``releaseScript``: allowed anywhere, also queued in the client's
        /// own `MULTI`.
        case script
    }

    /// How a command bears on the spill pointers its keys may hold.
    enum ReleaseKind {
        /// When it succeeds it has replaced every key at these indices (`SET` without `NX` or
        /// `GET`, `SETEX`, `PSETEX`, `MSET`); Redis refuses it at `maxmemory`.
        case overwrites(StrideTo<Int>)
        /// It removes those of these keys that exist (`DEL`, `UNLINK`); it runs at `maxmemory`.
        case removes(Range<Int>)
        /// Its reply is the old value of the key it replaced or removed (`GETSET`, `SET … GET`
        /// without `NX`, `GETDEL`): no framing needed.
        case returnsOld
        /// It may remove the key or only change its TTL (`EXPIRE`, `PEXPIRE`, `EXPIREAT`,
        /// `PEXPIREAT`, `GETEX`): the script, which also reads the TTL after it.
        case changesExpiry
    }

    /// Whether `kind` is ``ReleaseKind/changesExpiry``.
    static func changesExpiry(_ kind: ReleaseKind) -> Bool {
        if case .changesExpiry = kind { return true }
        return false
    }

    /// How `request` bears on the pointers of its keys, when the spill is on, blobs are released
    /// at once, and the command is one that can replace or remove a value: `SET` (not `NX`),
    /// `SETEX`, `PSETEX`, `GETSET`, `MSET`, `DEL`, `UNLINK`, `GETDEL`, `GETEX`, `EXPIRE`,
    /// `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`.
    func releaseKind(_ request: ProxyRequest) -> ReleaseKind? {
        guard spill != nil, releasesBlobs, request.count >= 2, request.count <= Self.maxReleaseArguments else { return nil }
        switch request.name {
        case "SET":
            guard request.count >= 3 else { return nil }
            if request.count == 3 { return .overwrites(Self.firstKey) }
            let options = Self.setOptions(request)
            guard options.condition != .ifNotExists else { return nil }
            return options.get ? .returnsOld : .overwrites(Self.firstKey)
        case "SETEX", "PSETEX":
            return .overwrites(Self.firstKey)
        case "GETSET", "GETDEL":
            guard request.count == (request.name == "GETSET" ? 3 : 2) else { return nil }
            return .returnsOld
        case "GETEX", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
            return .changesExpiry
        case "MSET":
            guard request.count % 2 == 1 else { return nil }
            return .overwrites(stride(from: 1, to: request.count, by: 2))
        case "DEL", "UNLINK":
            return .removes(1..<request.count)
        default:
            return nil
        }
    }

    /// The indices of the keys whose values `request` may replace or remove (see
    /// ``releaseKind(_:)``).
    func releaseKeyIndices(_ request: ProxyRequest) -> [Int]? {
        switch releaseKind(request) {
        case .none: return nil
        case .overwrites(let indices): return Array(indices)
        case .removes(let indices): return Array(indices)
        case .returnsOld, .changesExpiry: return [1]
        }
    }

    /// `request` as it goes upstream when it may replace or remove a pointer, with a plan that
    /// applies `plan` to its own reply and then releases the blobs it replaced (or moves their
    /// expiry when it only changed a key's TTL): unchanged when its reply is the old value;
    /// unchanged with a ``ReplyPlan/releasingInTransaction(_:keys:route:)`` plan (the connection
    /// frames it) under ``ReleaseFraming/transaction``; else wrapped in ``releaseScript``.
    func releasing(_ request: ProxyRequest, kind: ReleaseKind, plan: ReplyPlan, route: String?, framing: ReleaseFraming) -> (ProxyRequest, ReplyPlan) {
        let indices: [Int]
        switch kind {
        case .returnsOld:
            return (request, .releasingOldValue(plan, key: CacheKey(bytes: request.arguments[1]), route: route))
        case .overwrites(let replaced):
            if framing == .transaction {
                return (request, .releasingInTransaction(plan, keys: replaced.map { CacheKey(bytes: request.arguments[$0]) }, route: route))
            }
            indices = Array(replaced)
        case .removes(let removed):
            indices = Array(removed)
        case .changesExpiry:
            indices = [1]
        }
        var arguments: [ByteBuffer] = []
        arguments.reserveCapacity(3 + indices.count + 2 + request.count)
        arguments.append(Self.releaseWords.eval)
        arguments.append(Self.releaseWords.script)
        arguments.append(indices.count == 1 ? Self.releaseWords.one : ByteBuffer(string: "\(indices.count)"))
        for index in indices { arguments.append(request.arguments[index]) }
        arguments.append(Self.releaseWords.headBytes)
        arguments.append(Self.releaseWords.magic)
        arguments += request.arguments
        let keys = indices.map { CacheKey(bytes: request.arguments[$0]) }
        return (ProxyRequest(arguments), .releasing(plan, keys: keys, route: route, movesExpiry: Self.changesExpiry(kind)))
    }

    /// Writes `command` framed for ``ReleaseFraming/transaction``: `MULTI`, `GETRANGE key 0 n`
    /// of each of `keys` (enough bytes for any pointer), the command (its own bytes when it has
    /// them), `EXEC`. Its replies are `+OK`, one `+QUEUED` per `GETRANGE` and one for the
    /// command (or their queue-time errors), then `EXEC`'s array: the heads, then the command's
    /// reply (see ``execReply(_:unqueued:keys:)``). The connection gives each of them a slot:
    /// ``ReplyPlan/transactionStep(isCommand:)`` for the first `keys.count + 2`, then the plan.
    package static func writeInTransaction(_ command: ProxyRequest, keys: [CacheKey], into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(releaseWords.multiGetRange)
        for (i, key) in keys.enumerated() {
            if i > 0 { buffer.writeImmutableBuffer(releaseWords.getRange) }
            buffer.writeRESPBulk(key.bytes)
            buffer.writeImmutableBuffer(releaseWords.headRange)
        }
        command.write(into: &buffer)
        buffer.writeImmutableBuffer(releaseWords.exec)
    }

    /// What the proxy keeps of one reply to a step of its own transaction before `EXEC`'s
    /// (`kept` is what it kept so far): the client's command answers `+QUEUED`, or else its
    /// answer is kept (a queue-time error such as `-OOM`, or its own reply when the `MULTI` was
    /// refused, an ACL without `MULTI`, and the command ran at once); the other steps' first error.
    package static func unqueued(_ reply: RESPValue, isCommand: Bool, kept: RESPValue?) -> RESPValue? {
        if isCommand {
            if case .simpleString(let word) = reply, word.readableBytesView.elementsEqual("QUEUED".utf8) { return kept }
            return reply
        }
        return kept ?? (reply.errorMessage != nil ? reply : nil)
    }

    /// What a ``ReplyPlan/releasingInTransaction(_:keys:route:)`` plan is applied to, from
    /// `EXEC`'s reply: the array of the heads and the command's reply as it is; or, when the
    /// transaction was refused, what the command alone answered or would have: what
    /// ``unqueued(_:isCommand:kept:)`` kept (the command's queue-time error, or its reply when
    /// it ran outside a refused `MULTI`), or the reason `EXEC` itself was refused
    /// (`-EXECABORT Transaction discarded because of: OOM …`: the memory went over `maxmemory`
    /// between the queueing and `EXEC`, which Redis then refuses for the write queued in it).
    package static func execReply(_ exec: RESPValue, unqueued: RESPValue?, keys: Int) -> RESPValue {
        if case .array(let elements) = exec, elements.count == keys + 1 { return exec }
        if let unqueued { return unqueued }
        if let message = exec.errorMessage, message.hasPrefix(execAbortedBecause) {
            return RESPValueWriter.error(String(message.dropFirst(execAbortedBecause.count)))
        }
        return exec
    }

    /// How Redis words an `EXEC` refused for a reason of its own (after `-EXECABORT`).
    static let execAbortedBecause = "EXECABORT Transaction discarded because of: "

    /// The command's own reply in an ``execReply(_:unqueued:keys:)``, and the heads of the
    /// pointers it replaced: none when it failed or stored nothing (an error, or `nil` from a
    /// `SET XX` on a missing key).
    static func unwrapTransaction(_ reply: RESPValue, keys: Int) -> (reply: RESPValue, heads: ArraySlice<RESPValue>) {
        guard case .array(let elements) = reply, elements.count == keys + 1 else { return (reply, []) }
        let own = elements[keys]
        if own.errorMessage != nil || own.isNull { return (own, []) }
        return (own, elements[0..<keys])
    }

    /// The old value `reply` carries when it may name a blob to release (a bulk string that
    /// starts with the envelope magic).
    static func releasedOldValue(_ reply: RESPValue) -> ByteBuffer? {
        if case .bulkString(let bytes) = reply, SpillEnvelope.mayBeEnvelope(bytes) { return bytes }
        return nil
    }

    /// Releases the blob of the pointer `head` that `key` held until its command replaced it.
    func release(head: ByteBuffer, key: CacheKey, route: String?) async {
        guard let spill else { return }
        let policy = policies.resolve(route: route, key: key)
        await spill.release(head: head, key: key, context: CacheContext(route: route, logger: logger, policy: policy, policies: policies))
    }

    /// The command's own reply inside a ``releaseScript`` reply, and what the script saw of each
    /// key: its old head, and `-3` (replaced) or its TTL in milliseconds.
    static func unwrapReleased(_ reply: RESPValue, keys: Int) -> (reply: RESPValue, heads: [(ByteBuffer, Int64)?])? {
        guard case .array(let elements) = reply, elements.count == 1 || elements.count == 1 + 2 * keys else { return nil }
        var heads: [(ByteBuffer, Int64)?] = []
        guard elements.count > 1 else { return (elements[0], Array(repeating: nil, count: keys)) }
        heads.reserveCapacity(keys)
        for i in 0..<keys {
            if case .bulkString(let head) = elements[1 + 2 * i], case .integer(let after) = elements[2 + 2 * i] {
                heads.append((head, after))
            } else {
                heads.append(nil)
            }
        }
        return (elements[0], heads)
    }

    /// Releases the blobs the command replaced, and moves the expiry of those whose key's TTL it
    /// changed; then the client's reply.
    func applyReleased(_ plan: ReplyPlan, keys: [CacheKey], route: String?, movesExpiry: Bool, to reply: RESPValue) async -> RESPValue {
        guard let (own, heads) = Self.unwrapReleased(reply, keys: keys.count) else {
            // The script itself failed (a busy or read-only server): its error is the answer.
            return await apply(plan, to: reply)
        }
        let answer = await apply(plan, to: own)
        guard let spill else { return answer }
        for (key, seen) in zip(keys, heads) {
            guard let (head, after) = seen else { continue }
            let policy = policies.resolve(route: route, key: key)
            let context = CacheContext(route: route, logger: logger, policy: policy, policies: policies)
            if after == -3 {
                await spill.release(head: head, key: key, context: context)
            } else if movesExpiry, after > 0 {
                await spill.moveExpiry(head: head, key: key, ttl: .milliseconds(after), context: context)
            }
        }
        return answer
    }
}

extension ProxyRules {
    /// The client's command inside a command wrapped by ``releasing(_:kind:plan:route:framing:)``; `nil` for
    /// a command that is not wrapped (tests).
    package static func releasedCommand(_ request: ProxyRequest) -> ProxyRequest? {
        guard request.name == "EVAL", request.count > 3, request.arguments[1] == releaseWords.script,
            let keys = request.arguments[2].withUnsafeReadableBytes({ DecimalInteger.parseOrNil($0) }).map({ Int($0) }), keys >= 0,
            request.count > 3 + keys + 2
        else { return nil }
        return ProxyRequest(Array(request.arguments[(3 + keys + 2)...]))
    }
}
