import Logging
import NIOCore
import Spillway
import SpillwayRedis

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
        headBytes: ByteBuffer(string: "\(ValueSpill<MemoryBlobStore>.previousHeadBytes)"), magic: ByteBuffer(bytes: SpillEnvelope.magic)
    )

    /// The most arguments a wrapped command may have (Lua's `unpack` limit, with room).
    static let maxReleaseArguments = 4000

    /// The indices of the keys whose values `request` may replace or remove, when the spill is on
    /// and the command is one that can: `SET` (not `NX`), `SETEX`, `PSETEX`, `GETSET`, `MSET`,
    /// `DEL`, `UNLINK`, `GETDEL`, `GETEX`, `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`.
    func releaseKeyIndices(_ request: ProxyRequest) -> [Int]? {
        guard spill != nil, releasesBlobs, request.count >= 2, request.count <= Self.maxReleaseArguments else { return nil }
        switch request.name {
        case "SET":
            guard request.count >= 3, Self.setOptions(request).condition != .ifNotExists else { return nil }
            return [1]
        case "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
            return [1]
        case "MSET":
            guard request.count % 2 == 1 else { return nil }
            return Array(stride(from: 1, to: request.count, by: 2))
        case "DEL", "UNLINK":
            return Array(1..<request.count)
        default:
            return nil
        }
    }

    /// `request` wrapped in ``releaseScript`` when it may replace or remove a pointer, with a
    /// plan that applies `plan` to its own reply and then releases the blobs it replaced (or
    /// moves their expiry when it only changed a key's TTL).
    func releasing(_ request: ProxyRequest, plan: ReplyPlan, route: String?) -> (ProxyRequest, ReplyPlan) {
        guard let indices = releaseKeyIndices(request) else { return (request, plan) }
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
        let movesExpiry = request.name.hasSuffix("EXPIRE") || request.name.hasSuffix("EXPIREAT") || request.name == "GETEX"
        return (ProxyRequest(arguments), .releasing(plan, keys: keys, route: route, movesExpiry: movesExpiry))
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
    /// The client's command inside a command wrapped by ``releasing(_:plan:route:)``; `nil` for
    /// a command that is not wrapped (tests).
    package static func releasedCommand(_ request: ProxyRequest) -> ProxyRequest? {
        guard request.name == "EVAL", request.count > 3, request.arguments[1] == releaseWords.script,
            let keys = request.arguments[2].withUnsafeReadableBytes({ DecimalInteger.parseOrNil($0) }).map({ Int($0) }), keys >= 0,
            request.count > 3 + keys + 2
        else { return nil }
        return ProxyRequest(Array(request.arguments[(3 + keys + 2)...]))
    }
}
