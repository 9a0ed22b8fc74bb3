import NIOCore
public import Spillway

extension RedisClient {
    /// Executes one operation as Redis commands (see ``RedisClient``).
    /// - Throws: the classified ``CacheError``.
    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        switch operation {
        case .get(let key):
            var b = ByteBuffer()
            b.reserveCapacity(24 + key.count)
            b.writeStaticString("*2\r\n$3\r\nGET\r\n")
            key.writeBulk(into: &b)
            let reply = try Self.checked(try await roundTrip(b, idempotent: true))
            switch reply {
            case .bulkString(let value): return .value(value)
            case .null: return .value(nil)
            default: throw Self.unexpected(reply, for: "GET")
            }

        case .set(let key, let value, let options):
            return .write(try await set(key, value, options))

        case .delete(let key):
            var b = ByteBuffer()
            b.writeStaticString("*2\r\n$3\r\nDEL\r\n")
            key.writeBulk(into: &b)
            return .count(Int(try Self.integer(try await roundTrip(b, idempotent: true), for: "DEL")))

        case .exists(let key):
            var b = ByteBuffer()
            b.writeStaticString("*2\r\n$6\r\nEXISTS\r\n")
            key.writeBulk(into: &b)
            return .bool(try Self.integer(try await roundTrip(b, idempotent: true), for: "EXISTS") > 0)

        case .increment(let key, let by, let ttl):
            return .integer(try await increment(key, by: by, ttlOnCreate: ttl))

        case .expire(let key, let ttl):
            var b = ByteBuffer()
            b.writeStaticString("*3\r\n$7\r\nPEXPIRE\r\n")
            key.writeBulk(into: &b)
            b.writeRESPBulk(ttl <= .zero ? 0 : Self.milliseconds(ttl))
            return .bool(try Self.integer(try await roundTrip(b, idempotent: true), for: "PEXPIRE") == 1)

        case .mget(let keys):
            guard !keys.isEmpty else { return .values([]) }
            var b = ByteBuffer()
            b.writeRESPArrayHeader(keys.count + 1)
            b.writeStaticString("$4\r\nMGET\r\n")
            for key in keys { key.writeBulk(into: &b) }
            let reply = try Self.checked(try await roundTrip(b, idempotent: true))
            guard case .array(let elements) = reply, elements.count == keys.count else { throw Self.unexpected(reply, for: "MGET") }
            var values: [ByteBuffer?] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                switch element {
                case .bulkString(let value): values.append(value)
                case .null: values.append(nil)
                default: throw Self.unexpected(reply, for: "MGET")
                }
            }
            return .values(values)

        case .mset(let pairs, let ttl):
            return .write(try await mset(pairs, ttl: ttl))

        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            return .write(try await msetReturningHeads(pairs, ttl: ttl, headBytes: headBytes))

        case .throttle(let key, let parameters):
            return .throttle(try await throttle(key, parameters))

        case .deleteReturningHead(let key, let headBytes):
            // Idempotent: sent again after a lost connection. When the first DEL had run, the
            // second finds nothing and returns no head, so a spilled value's blob is left to
            // the sweeper (an orphan, never a wrong read).
            let (removed, head) = try await withPreviousHead(key, headBytes: headBytes, ["del", max(0, headBytes)], idempotent: true)
            return .headed(removed, previousHead: head)

        case .expireReturningHead(let key, let ttl, let headBytes):
            let ms: Int64 = ttl <= .zero ? 0 : Self.milliseconds(ttl)
            let (existed, head) = try await withPreviousHead(key, headBytes: headBytes, ["pexpire", max(0, headBytes), ms], idempotent: true)
            return .headed(existed, previousHead: head)
        }
    }

    // MARK: Writes

    private func set(_ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions) async throws(CacheError) -> WriteResult {
        try options.expiry.validate()
        try checkSize(value)
        if options.returnPrevious, let headBytes = options.previousHeadBytes {
            return try await setReturningHead(key, value, options, headBytes: headBytes)
        }
        var count = 3
        if options.condition != .always { count += 1 }
        if options.returnPrevious { count += 1 }
        switch options.expiry {
        case .none: break
        case .after: count += 2
        case .keep: count += 1
        }
        var b = ByteBuffer()
        b.reserveCapacity(64 + key.count + value.readableBytes)
        b.writeRESPArrayHeader(count)
        b.writeStaticString("$3\r\nSET\r\n")
        key.writeBulk(into: &b)
        b.writeRESPBulk(value)
        switch options.condition {
        case .always: break
        case .ifNotExists: b.writeStaticString("$2\r\nNX\r\n")
        case .ifExists: b.writeStaticString("$2\r\nXX\r\n")
        }
        if options.returnPrevious { b.writeStaticString("$3\r\nGET\r\n") }
        switch options.expiry {
        case .none: break
        case .after(let ttl):
            b.writeStaticString("$2\r\nPX\r\n")
            b.writeRESPBulk(Self.milliseconds(ttl))
        case .keep: b.writeStaticString("$7\r\nKEEPTTL\r\n")
        }
        let reply = try Self.checked(try await roundTrip(b))
        if options.returnPrevious {
            let previous: ByteBuffer?
            switch reply {
            case .bulkString(let old): previous = old
            case .null: previous = nil
            default: throw Self.unexpected(reply, for: "SET … GET")
            }
            let stored: Bool
            switch options.condition {
            case .always: stored = true
            case .ifNotExists: stored = previous == nil
            case .ifExists: stored = previous != nil
            }
            return WriteResult(stored ? .stored : .conditionNotMet, previous: previous)
        }
        switch reply {
        case .simpleString: return WriteResult(.stored)
        case .null: return WriteResult(.conditionNotMet)
        default: throw Self.unexpected(reply, for: "SET")
        }
    }

    private func increment(_ key: CacheKey, by: Int64, ttlOnCreate: Duration?) async throws(CacheError) -> Int64 {
        guard let ttl = ttlOnCreate else {
            var b = ByteBuffer()
            b.writeStaticString("*3\r\n$6\r\nINCRBY\r\n")
            key.writeBulk(into: &b)
            b.writeRESPBulk(by)
            return try Self.integer(try await roundTrip(b), for: "INCRBY")
        }
        guard ttl > .zero else { throw CacheError(.invalidArgument, "ERR invalid expire time in 'increment' command") }
        // The TTL must apply only when the counter is created, atomically: create it at 0 with
        // the TTL if absent, then add, in one transaction.
        var b = ByteBuffer()
        b.writeStaticString("*1\r\n$5\r\nMULTI\r\n")
        b.writeStaticString("*6\r\n$3\r\nSET\r\n")
        key.writeBulk(into: &b)
        b.writeStaticString("$1\r\n0\r\n$2\r\nNX\r\n$2\r\nPX\r\n")
        b.writeRESPBulk(Self.milliseconds(ttl))
        b.writeStaticString("*3\r\n$6\r\nINCRBY\r\n")
        key.writeBulk(into: &b)
        b.writeRESPBulk(by)
        b.writeStaticString("*1\r\n$4\r\nEXEC\r\n")
        let results = try Self.transaction(try await roundTrip(b, count: 4), commands: 2)
        return try Self.integer(results[1], for: "INCRBY")
    }

    private func mset(_ pairs: [KeyValue], ttl: Duration?) async throws(CacheError) -> WriteResult {
        guard !pairs.isEmpty else { return WriteResult(.stored) }
        if let ttl, ttl <= .zero { throw CacheError(.invalidArgument, "ERR invalid expire time in 'mset' command") }
        var size = 32
        for pair in pairs {
            try checkSize(pair.value)
            size += 32 + pair.key.count + pair.value.readableBytes
        }
        var b = ByteBuffer()
        b.reserveCapacity(size + (ttl == nil ? 0 : 48 * pairs.count))
        if ttl != nil { b.writeStaticString("*1\r\n$5\r\nMULTI\r\n") }
        b.writeRESPArrayHeader(1 + 2 * pairs.count)
        b.writeStaticString("$4\r\nMSET\r\n")
        for pair in pairs {
            pair.key.writeBulk(into: &b)
            b.writeRESPBulk(pair.value)
        }
        guard let ttl else {
            let reply = try Self.checked(try await roundTrip(b))
            guard case .simpleString = reply else { throw Self.unexpected(reply, for: "MSET") }
            return WriteResult(.stored)
        }
        let ms = Self.milliseconds(ttl)
        for pair in pairs {
            b.writeStaticString("*3\r\n$7\r\nPEXPIRE\r\n")
            pair.key.writeBulk(into: &b)
            b.writeRESPBulk(ms)
        }
        b.writeStaticString("*1\r\n$4\r\nEXEC\r\n")
        let results = try Self.transaction(try await roundTrip(b, count: 3 + pairs.count), commands: 1 + pairs.count)
        _ = try Self.checked(results[0])
        return WriteResult(.stored)
    }

    private func checkSize(_ value: ByteBuffer) throws(CacheError) {
        if value.readableBytes > capabilities.maxValueBytes {
            throw CacheError(.tooLarge, "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        }
    }

    // MARK: Throttle

    private func throttle(_ key: CacheKey, _ parameters: GCRAParameters) async throws(CacheError) -> GCRADecision {
        let args: [any RESPArgument] = [
            1, key, parameters.emissionInterval.nanoseconds, parameters.capacity, parameters.cost,
        ]
        let reply = try await evaluate(RedisScripts.gcra, sha: gcraSHACache, args: args)
        guard case .array(let values) = reply, values.count == 4,
            case .integer(let allowed) = values[0], case .integer(let remaining) = values[1],
            case .integer(let retry) = values[2], case .integer(let reset) = values[3]
        else { throw Self.unexpected(reply, for: "the GCRA script") }
        return GCRADecision(allowed: allowed == 1, remaining: Int(remaining), retryAfter: .nanoseconds(retry), resetAfter: .nanoseconds(reset))
    }

    /// Runs a script by its SHA (loading it once with `SCRIPT LOAD`), falling back to `EVAL`
    /// when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
    func evaluate(_ script: String, sha cache: ScriptSHACache, args: [any RESPArgument], idempotent: Bool = false) async throws(CacheError) -> RESPValue {
        let sha: String
        if let known = cache.value {
            sha = known
        } else {
            guard let loaded = try Self.checked(try await roundTrip(RedisCommandEncoder.encode(["SCRIPT", "LOAD", script]))).string else {
                throw CacheError(.protocolError, "SCRIPT LOAD did not return a SHA")
            }
            cache.value = loaded
            sha = loaded
        }
        let reply = try await roundTrip(RedisCommandEncoder.encode(["EVALSHA", sha] + args), idempotent: idempotent)
        if case .error(let message) = reply, message.readableBytesView.starts(with: "NOSCRIPT".utf8) {
            return try Self.checked(try await roundTrip(RedisCommandEncoder.encode(["EVAL", script] + args), idempotent: idempotent))
        }
        return try Self.checked(reply)
    }

    // MARK: Replies

    static func integer(_ reply: RESPValue, for command: String) throws(CacheError) -> Int64 {
        switch try checked(reply) {
        case .integer(let n): return n
        default: throw unexpected(reply, for: command)
        }
    }

    /// The results of `MULTI; …; EXEC` replies: the first error among the queued commands (an
    /// `-OOM` refused at queue time is more telling than the `-EXECABORT` that follows), else
    /// EXEC's array.
    static func transaction(_ replies: [RESPValue], commands: Int) throws(CacheError) -> [RESPValue] {
        for reply in replies.dropLast() { _ = try checked(reply) }
        let exec = try checked(replies[replies.count - 1])
        guard case .array(let results) = exec, results.count == commands else {
            if exec.isNull { throw CacheError(.execAbort, "EXEC returned null: the transaction was aborted") }
            throw unexpected(exec, for: "EXEC")
        }
        return results
    }

    /// A TTL in whole milliseconds, rounded up, at least 1.
    static func milliseconds(_ ttl: Duration) -> Int64 {
        let ns = ttl.nanoseconds
        return max(1, ns / 1_000_000 + (ns % 1_000_000 > 0 ? 1 : 0))
    }
}

// MARK: Previous-value heads

extension RedisClient {
    /// `SET` (or `DEL`, or `PEXPIRE`) through ``RedisScripts/previousHead``: one round trip that
    /// returns only the first `headBytes` bytes of the old value.
    func withPreviousHead(
        _ key: CacheKey, headBytes: Int, _ arguments: [any RESPArgument], idempotent: Bool = false
    ) async throws(CacheError) -> (done: Bool, head: ByteBuffer?) {
        let args: [any RESPArgument] = [1, key] + arguments
        let reply = try await evaluate(
            RedisScripts.previousHead, knownSHA: RedisScripts.previousHeadSHA1, sha: previousHeadSHACache, args: args, idempotent: idempotent
        )
        guard case .array(let values) = reply, values.count == 3,
            case .integer(let done) = values[0], case .integer(let hadString) = values[1]
        else { throw Self.unexpected(reply, for: "the previous-head script") }
        let head: ByteBuffer?
        switch values[2] {
        case .bulkString(let bytes): head = hadString == 1 ? bytes : nil
        case .null: head = nil
        default: throw Self.unexpected(reply, for: "the previous-head script")
        }
        return (done == 1, head)
    }

    func setReturningHead(_ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions, headBytes: Int) async throws(CacheError) -> WriteResult {
        var arguments: [any RESPArgument] = ["set", max(0, headBytes), value]
        switch options.condition {
        case .always: break
        case .ifNotExists: arguments.append("NX")
        case .ifExists: arguments.append("XX")
        }
        switch options.expiry {
        case .none: break
        case .after(let ttl):
            arguments.append("PX")
            arguments.append(Self.milliseconds(ttl))
        case .keep: arguments.append("KEEPTTL")
        }
        let (stored, head) = try await withPreviousHead(key, headBytes: headBytes, arguments)
        return WriteResult(stored ? .stored : .conditionNotMet, previous: head)
    }

    /// Runs a script whose SHA-1 is known ahead: the first call on this client is one `EVAL`,
    /// which also loads it (instead of `SCRIPT LOAD` then `EVALSHA`); later calls use `EVALSHA`.
    func evaluate(
        _ script: String, knownSHA: String, sha cache: ScriptSHACache, args: [any RESPArgument], idempotent: Bool
    ) async throws(CacheError) -> RESPValue {
        guard cache.value == nil else { return try await evaluate(script, sha: cache, args: args, idempotent: idempotent) }
        let reply = try Self.checked(try await roundTrip(RedisCommandEncoder.encode(["EVAL", script] + args), idempotent: idempotent))
        cache.value = knownSHA
        return reply
    }

    /// `MSET` through ``RedisScripts/msetHeads``: one round trip that returns only the first
    /// `headBytes` bytes of each old value. Never sent again after a lost connection: a second
    /// run would return the first run's new values as the old ones.
    func msetReturningHeads(_ pairs: [KeyValue], ttl: Duration?, headBytes: Int) async throws(CacheError) -> WriteResult {
        guard !pairs.isEmpty else { return WriteResult(.stored) }
        if let ttl, ttl <= .zero { throw CacheError(.invalidArgument, "ERR invalid expire time in 'mset' command") }
        var args: [any RESPArgument] = []
        args.reserveCapacity(3 + 2 * pairs.count)
        args.append(pairs.count)
        for pair in pairs {
            try checkSize(pair.value)
            args.append(pair.key)
        }
        // A head never needs more than the largest value; the bound keeps the number exact in Lua.
        args.append(min(max(0, headBytes), capabilities.maxValueBytes))
        args.append(ttl.map(Self.milliseconds) ?? 0)
        for pair in pairs { args.append(pair.value) }
        let reply = try await evaluate(RedisScripts.msetHeads, knownSHA: RedisScripts.msetHeadsSHA1, sha: msetHeadsSHACache, args: args, idempotent: false)
        guard case .array(let values) = reply, values.count == 2 * pairs.count else { throw Self.unexpected(reply, for: "the mset-heads script") }
        var heads: [ByteBuffer?] = []
        heads.reserveCapacity(pairs.count)
        for i in pairs.indices {
            guard case .integer(let hadString) = values[2 * i], case .bulkString(let head) = values[2 * i + 1] else {
                throw Self.unexpected(reply, for: "the mset-heads script")
            }
            heads.append(hadString == 1 ? head : nil)
        }
        return WriteResult(.stored, previousHeads: heads)
    }
}
