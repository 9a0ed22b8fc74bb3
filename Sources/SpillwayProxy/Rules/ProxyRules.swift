public import Logging
public import NIOCore
public import Spillway
public import SpillwayRedis

/// The guards the proxy applies to a client's commands and their replies: the key guard
/// (``KeyGuard``, the library's own, so keys are hashed exactly as in Swift code), the spill
/// (``ValueSpill`` through ``ProxySpill``) and the OOM ladder of each key's policy.
///
/// - **Keys** are found through the upstream's key specifications (``CommandKeyTable``); a
///   command whose specs are incomplete asks `COMMAND GETKEYS` (or passes unchanged, per
///   ``incompleteKeySpecs``). A key over its policy's `maxKeyBytes` is hashed, or the command is
///   refused with an error under `keyOverflow: reject`. The policy is resolved by key prefix and
///   by route: the client's name (`CLIENT SETNAME`), when the policy file has a route of that
///   name. Empty keys pass (Redis allows them).
/// - **Values** of `SET`, `SETEX`, `PSETEX`, `SETNX`, `GETSET`, `MSET` and `MSETNX` above the
///   policy's `spillAbove` go to the blob store and a pointer takes their place; raw values that
///   start with the envelope magic are escaped. `GET`, `GETDEL`, `GETEX`, `GETSET`, `SET … GET`
///   and `MGET` replies are resolved and verified (a missing or corrupt blob reads as a miss).
/// - **OOM**: an `-OOM` reply to `SET` (without `NX`, `XX` or `GET`), `SETEX`, `PSETEX` or
///   `MSET` is answered `+OK` and counted when every key's policy says `onOOM: shed` (or
///   `fallback`, which the proxy treats as `shed`); anything else passes the error through, so a
///   `SET NX` lock never pretends to succeed. Blobs spilled for a refused write are deleted.
public struct ProxyRules: Sendable {
    /// What to do with a command whose key specs are incomplete.
    public enum IncompleteKeySpecs: String, Sendable, CaseIterable {
        /// Ask the upstream's `COMMAND GETKEYS` which arguments are keys.
        case getKeys = "getkeys"
        /// Guard the keys the complete specs find, and pass the rest unchanged.
        case pass
    }

    /// What to do with a command.
    public enum Rewrite: Sendable {
        /// Forward this (possibly rewritten) command; apply the plan to its reply.
        case forward(ProxyRequest, ReplyPlan)
        /// Answer this and forward nothing.
        case answer(RESPValue)
    }

    /// The policies, by route (client name) and key prefix.
    public var policies: PolicyTable
    /// The key guard (its hasher carries the deployment secret).
    public var keyGuard: KeyGuard
    /// The spill, or `nil` to leave values alone.
    public var spill: ProxySpill?
    /// What to do with incomplete key specs.
    public var incompleteKeySpecs: IncompleteKeySpecs
    /// Whether a command that replaces or removes a spilled value releases its blob at once,
    /// atomically (an overwrite runs in a `MULTI` of the proxy's own, a delete or an expire
    /// inside ``releaseScript``: see ``ReleaseFraming``); when `false`, such blobs are left to
    /// expire with their key's TTL and to `BlobSweeper`, and those commands are sent as they are.
    public var releasesBlobs: Bool
    /// Where to log.
    public var logger: Logger
    /// The counters.
    public let stats: ProxyStats

    /// Creates the rules.
    public init(
        policies: PolicyTable, keyGuard: KeyGuard = KeyGuard(), spill: ProxySpill? = nil,
        incompleteKeySpecs: IncompleteKeySpecs = .getKeys, releasesBlobs: Bool = true, logger: Logger = CacheContext.disabledLogger,
        stats: ProxyStats = ProxyStats()
    ) {
        self.releasesBlobs = releasesBlobs
        self.policies = policies
        self.keyGuard = keyGuard
        self.spill = spill
        self.incompleteKeySpecs = incompleteKeySpecs
        self.logger = logger
        self.stats = stats
    }

    /// Rewrites one command: keys guarded, values spilled, and the plan for its reply.
    /// - Parameters:
    ///   - route: the client's name, if it gave one.
    ///   - table: the upstream's key specifications.
    ///   - getKeys: asks the upstream `COMMAND GETKEYS` for a command (the key names).
    ///   - framing: how a command that may replace a spill pointer may be sent
    ///     (``ProxySession/releaseFraming``); the script, which works anywhere, by default.
    public func rewrite(
        _ request: ProxyRequest, route: String?, table: CommandKeyTable, framing: ReleaseFraming = .script,
        getKeys: (ProxyRequest) async throws(CacheError) -> [ByteBuffer]
    ) async -> Rewrite {
        withRelease(await guardedRewrite(request, route: route, table: table, getKeys: getKeys), route: route, framing: framing)
    }

    func guardedRewrite(
        _ request: ProxyRequest, route: String?, table: CommandKeyTable,
        getKeys: (ProxyRequest) async throws(CacheError) -> [ByteBuffer]
    ) async -> Rewrite {
        guard let entry = table.entry(for: request) else {
            // Not a command the upstream listed: no keys to guard; the value commands keep
            // their fixed layout (an upstream whose COMMAND could not be read).
            return await values(request, route: route) ?? .forward(request, .pass)
        }
        var indices = table.keyIndices(of: request, entry: entry)
        if entry.needsGetKeys && incompleteKeySpecs == .getKeys {
            do {
                let names = Set(try await getKeys(request))
                stats.record(.getKeysLookups)
                if !names.isEmpty {
                    indices = Array(Set(indices + (1..<request.count).filter { names.contains(request.arguments[$0]) })).sorted()
                }
            } catch {
                logger.debug("COMMAND GETKEYS failed; guarding the keys the specs find", metadata: ["command": "\(request.name)", "error": "\(error)"])
            }
        }
        let guarded =
            entry.onlyFirstArgument && request.count >= 2 && keyNeedsNoGuard(request.arguments[1], route: route)
            ? .guarded(request, [:]) : guardKeys(request, indices: indices, route: route)
        switch guarded {
        case .refused(let answer):
            return answer
        case .guarded(let request, let hashedToOriginal):
            if let valued = await values(request, route: route) { return valued }
            if entry.blocking && !hashedToOriginal.isEmpty { return .forward(request, .mapKeys(hashedToOriginal)) }
            return .forward(request, .pass)
        }
    }

    /// The rewrite of a command when it can be decided at once (no blob to write, no
    /// `COMMAND GETKEYS` to ask), exactly as ``rewrite(_:route:table:framing:getKeys:)`` decides
    /// it; `nil` when it needs that call.
    public func rewriteNow(_ request: ProxyRequest, route: String?, table: CommandKeyTable, framing: ReleaseFraming = .script) -> Rewrite? {
        guardedRewriteNow(request, route: route, table: table).map { withRelease($0, route: route, framing: framing) }
    }

    /// A forwarded command sent so that the blobs of the pointers it replaces are released.
    func withRelease(_ rewrite: Rewrite, route: String?, framing: ReleaseFraming) -> Rewrite {
        guard spill != nil, releasesBlobs, case .forward(let command, let plan) = rewrite, let kind = releaseKind(command) else { return rewrite }
        let (wrapped, released) = releasing(command, kind: kind, plan: plan, route: route, framing: framing)
        return .forward(wrapped, released)
    }

    func guardedRewriteNow(_ request: ProxyRequest, route: String?, table: CommandKeyTable) -> Rewrite? {
        guard let entry = table.entry(for: request) else {
            switch valuesNow(request, route: route) {
            case .notValue: return .forward(request, .pass)
            case .done(let rewrite): return rewrite
            case .needsSpill: return nil
            }
        }
        if entry.needsGetKeys && incompleteKeySpecs == .getKeys { return nil }
        // The common case first: one key, the first argument, short and not shaped like a
        // hashed key (no index array, no copy of the request).
        let guarded =
            entry.onlyFirstArgument && request.count >= 2 && keyNeedsNoGuard(request.arguments[1], route: route)
            ? .guarded(request, [:]) : guardKeys(request, indices: table.keyIndices(of: request, entry: entry), route: route)
        switch guarded {
        case .refused(let answer):
            return answer
        case .guarded(let request, let hashedToOriginal):
            switch valuesNow(request, route: route) {
            case .done(let rewrite): return rewrite
            case .needsSpill: return nil
            case .notValue: break
            }
            if entry.blocking && !hashedToOriginal.isEmpty { return .forward(request, .mapKeys(hashedToOriginal)) }
            return .forward(request, .pass)
        }
    }

    /// A command with its keys guarded, or refused.
    enum GuardedKeys {
        case guarded(ProxyRequest, [ByteBuffer: ByteBuffer])
        case refused(Rewrite)
    }

    /// The request with the keys at `indices` as the upstream should see them, and the hashed
    /// names mapped to the client's.
    func guardKeys(_ request: ProxyRequest, indices: [Int], route: String?) -> GuardedKeys {
        var request = request
        var hashedToOriginal: [ByteBuffer: ByteBuffer] = [:]
        for index in indices {
            let original = request.arguments[index]
            do {
                let guarded = try guardKey(original, route: route)
                if guarded != original {
                    request.arguments[index] = guarded
                    hashedToOriginal[guarded] = original
                }
            } catch {
                stats.record(.keysRejected)
                return .refused(.answer(RESPValueWriter.error("ERR spillway: \(error.message)")))
            }
        }
        return .guarded(request, hashedToOriginal)
    }

    /// The key as the upstream should see it.
    /// - Throws: `.rejectedByPolicy` under `keyOverflow: reject`.
    func guardKey(_ bytes: ByteBuffer, route: String?) throws(CacheError) -> ByteBuffer {
        if keyNeedsNoGuard(bytes, route: route) { return bytes }
        let key = CacheKey(bytes: bytes)
        let policy = policies.resolve(route: route, key: key)
        let context = CacheContext(route: route, logger: logger, policy: policy, policies: policies)
        let guarded = try keyGuard.guarded(key, policy, context)
        stats.record(.keysHashed)
        return guarded.bytes
    }

    /// Whether the key goes upstream as it is: empty, or within its policy's `maxKeyBytes` and
    /// not shaped like a hashed key.
    func keyNeedsNoGuard(_ bytes: ByteBuffer, route: String?) -> Bool {
        guard bytes.readableBytes > 0 else { return true }
        let key = CacheKey(bytes: bytes)
        return key.count <= policies.resolve(route: route, key: key).maxKeyBytes && !KeyHasher.hasHashedForm(key)
    }

    // MARK: - Values

    /// The shape of a write command: where its keys and values are, and what it answers.
    struct WriteShape {
        /// The indices of the keys written.
        var keys: StrideTo<Int>
        /// Where each key's value is, after the key.
        var valueOffset: Int
        var pairs: LazyMapSequence<StrideTo<Int>, (key: Int, value: Int)> { keys.lazy.map { [valueOffset] in (key: $0, value: $0 + valueOffset) } }
        var ttl: Duration?
        var condition: SetOptions.Condition
        var okOnSuccess: Bool
        var returnsOld: Bool
    }

    /// How a command bears on values.
    enum ValueRewrite {
        /// Not a value command.
        case notValue
        /// Decided.
        case done(Rewrite)
        /// A value goes to the blob store (or is escaped through the spill): ``write(_:shape:route:)``.
        case needsSpill
    }

    /// The key of a command whose only key is its first argument.
    static let firstKey = stride(from: 1, to: 2, by: 1)

    /// The write shape of `SET`, `SETNX`, `SETEX`, `PSETEX`, `GETSET`, `MSET` and `MSETNX`.
    static func writeShape(_ request: ProxyRequest) -> WriteShape? {
        let name = request.name
        switch name {
        case "SET":
            guard request.count >= 3 else { return nil }
            let options = Self.setOptions(request)
            return WriteShape(
                keys: Self.firstKey, valueOffset: 1, ttl: options.ttl, condition: options.condition, okOnSuccess: options.condition == .always && !options.get,
                returnsOld: options.get
            )
        case "SETNX":
            guard request.count == 3 else { return nil }
            return WriteShape(keys: Self.firstKey, valueOffset: 1, ttl: nil, condition: .ifNotExists, okOnSuccess: false, returnsOld: false)
        case "SETEX", "PSETEX":
            guard request.count == 4 else { return nil }
            let amount = Int64(String(decoding: request.arguments[2].readableBytesView, as: UTF8.self)) ?? 0
            let ttl: Duration? = amount > 0 ? (name == "SETEX" ? .seconds(amount) : .milliseconds(amount)) : nil
            return WriteShape(keys: Self.firstKey, valueOffset: 2, ttl: ttl, condition: .always, okOnSuccess: true, returnsOld: false)
        case "GETSET":
            guard request.count == 3 else { return nil }
            return WriteShape(keys: Self.firstKey, valueOffset: 1, ttl: nil, condition: .always, okOnSuccess: false, returnsOld: true)
        case "MSET", "MSETNX":
            guard request.count >= 3, request.count % 2 == 1 else { return nil }
            return WriteShape(
                keys: stride(from: 1, to: request.count, by: 2), valueOffset: 1, ttl: nil,
                condition: name == "MSET" ? .always : .ifNotExists, okOnSuccess: name == "MSET", returnsOld: false
            )
        default:
            return nil
        }
    }

    /// The rewrite of a value command when no value goes through the spill.
    func valuesNow(_ request: ProxyRequest, route: String?) -> ValueRewrite {
        switch request.name {
        case "GET", "GETDEL", "GETEX":
            guard spill != nil, request.count >= 2 else { return .notValue }
            return .done(.forward(request, .resolveValue(CacheKey(bytes: request.arguments[1]), route: route)))
        case "MGET":
            guard spill != nil, request.count >= 2 else { return .notValue }
            return .done(.forward(request, .resolveValues(request.arguments.dropFirst().map { CacheKey(bytes: $0) }, route: route)))
        default:
            break
        }
        guard let shape = Self.writeShape(request) else { return .notValue }
        var shed = shape.okOnSuccess
        for pair in shape.pairs {
            let key = CacheKey(bytes: request.arguments[pair.key])
            let policy = policies.resolve(route: route, key: key)
            if policy.onOOM == .fail { shed = false }
            if spill != nil {
                let value = request.arguments[pair.value]
                if policy.spillAbove.map({ value.readableBytes > $0 }) ?? false || SpillEnvelope.mayBeEnvelope(value) { return .needsSpill }
            }
        }
        let old: CacheKey? = shape.returnsOld && spill != nil ? CacheKey(bytes: request.arguments[1]) : nil
        return .done(.forward(request, .write(WritePlan(shedOnOOM: shed, returnsValueOf: old, route: route))))
    }

    /// The rewrite of a value command (spill, OOM ladder, pointer resolution), or `nil` for
    /// other commands.
    func values(_ request: ProxyRequest, route: String?) async -> Rewrite? {
        switch valuesNow(request, route: route) {
        case .notValue: return nil
        case .done(let rewrite): return rewrite
        case .needsSpill: return await write(request, shape: Self.writeShape(request)!, route: route)
        }
    }

    /// The options of a `SET` that matter here.
    static func setOptions(_ request: ProxyRequest) -> (ttl: Duration?, condition: SetOptions.Condition, get: Bool) {
        var ttl: Duration? = nil
        var condition = SetOptions.Condition.always
        var get = false
        var i = 3
        while i < request.count {
            switch request.upperArgument(i) {
            case "NX": condition = .ifNotExists
            case "XX": condition = .ifExists
            case "GET": get = true
            case "EX", "PX":
                if i + 1 < request.count, let n = Int64(String(decoding: request.arguments[i + 1].readableBytesView, as: UTF8.self)), n > 0 {
                    ttl = request.upperArgument(i) == "EX" ? .seconds(n) : .milliseconds(n)
                }
                i += 1
            case "EXAT", "PXAT":
                i += 1
            default:
                break
            }
            i += 1
        }
        return (ttl, condition, get)
    }

    /// A write: its values spilled where they are big, and its OOM ladder.
    func write(_ request: ProxyRequest, shape: WriteShape, route: String?) async -> Rewrite {
        let (pairs, ttl, condition, okOnSuccess, returnsOld) = (shape.pairs, shape.ttl, shape.condition, shape.okOnSuccess, shape.returnsOld)
        var request = request
        var blobs: [BlobID] = []
        var shed = okOnSuccess
        for pair in pairs {
            let key = CacheKey(bytes: request.arguments[pair.key])
            let policy = policies.resolve(route: route, key: key)
            if policy.onOOM == .fail { shed = false }
            guard let spill else { continue }
            let value = request.arguments[pair.value]
            let big = policy.spillAbove.map { value.readableBytes > $0 } ?? false
            guard big || SpillEnvelope.mayBeEnvelope(value) else { continue }
            let context = CacheContext(route: route, logger: logger, policy: policy, policies: policies)
            var stored: ByteBuffer? = nil
            let reply: CacheReply
            do {
                reply = try await spill.handle(.set(key, value, SetOptions(expiry: ttl.map { .after($0) } ?? .none, condition: condition)), context: context) {
                    operation, _ throws(CacheError) -> CacheReply in
                    switch operation {
                    case .set(_, let form, _):
                        stored = form
                        return .write(WriteResult(.stored))
                    case .get:
                        return .value(nil)
                    case .delete:
                        return .count(0)
                    default:
                        return .write(WriteResult(.stored))
                    }
                }
            } catch {
                for blob in blobs { await spill.deleteBlob(blob) }
                return .answer(RESPValueWriter.error("ERR spillway: \(error.message)"))
            }
            guard let stored else {
                // The blob store could not take the value and the ladder shed the write.
                for blob in blobs { await spill.deleteBlob(blob) }
                if case .write(let result) = reply, case .dropped = result.outcome, condition == .always, okOnSuccess {
                    stats.record(.writesShed)
                    let keys = pairs.map { request.arguments[$0.key] }
                    return .forward(ProxyRequest([ByteBuffer(string: "DEL")] + keys), .replace(.simpleString(ByteBuffer(string: "OK"))))
                }
                return .answer(RESPValueWriter.error("ERR spillway: the blob store could not take a value of \(value.readableBytes) bytes"))
            }
            if case .pointer(let pointer) = SpillEnvelope.decode(stored) {
                blobs.append(pointer.id)
                stats.record(.valuesSpilled)
            }
            request.arguments[pair.value] = stored
        }
        let old: CacheKey? = returnsOld && spill != nil ? CacheKey(bytes: request.arguments[1]) : nil
        return .forward(
            request,
            .write(WritePlan(shedOnOOM: shed, blobs: blobs, returnsValueOf: old, route: route, condition: condition, returnsOld: returnsOld))
        )
    }

    // MARK: - Replies

    /// Whether applying `plan` to `reply` has to wait on the blob store (a pointer to resolve, a
    /// spilled blob to delete); if not, ``applyNow(_:to:)`` gives the client's reply at once.
    public func needsWork(_ plan: ReplyPlan, for reply: RESPValue) -> Bool {
        guard spill != nil else { return false }
        switch plan {
        case .pass, .none, .hello, .handshake, .replace, .mapKeys, .transactionStep:
            return false
        case .resolveValue:
            return Self.mayBePointer(reply)
        case .resolveValues:
            guard case .array(let elements) = reply else { return false }
            return elements.contains(where: Self.mayBePointer)
        case .write(let write):
            if !write.blobs.isEmpty && write.storedNothing(reply) { return true }
            return reply.errorMessage == nil && write.returnsValueOf != nil && Self.mayBePointer(reply)
        case .exec(let plans):
            guard case .array(let elements) = reply, elements.count == plans.count else { return false }
            return zip(plans, elements).contains { needsWork($0, for: $1) }
        case .releasing(let inner, let keys, _, _):
            guard let (own, heads) = Self.unwrapReleased(reply, keys: keys.count) else { return needsWork(inner, for: reply) }
            return heads.contains { $0 != nil } || needsWork(inner, for: own)
        case .releasingInTransaction(let inner, let keys, _):
            let (own, heads) = Self.unwrapTransaction(reply, keys: keys.count)
            return heads.contains(where: Self.mayBePointer) || needsWork(inner, for: own)
        case .releasingOldValue(let inner, _, _):
            return Self.mayBePointer(reply) || needsWork(inner, for: reply)
        }
    }

    static func mayBePointer(_ reply: RESPValue) -> Bool {
        if case .bulkString(let bytes) = reply { return SpillEnvelope.mayBeEnvelope(bytes) }
        return false
    }

    /// The reply the client gets for `reply` under `plan`, when ``needsWork(_:for:)`` is false;
    /// `nil` when it is `reply` itself.
    public func applyNow(_ plan: ReplyPlan, to reply: RESPValue) -> RESPValue? {
        switch plan {
        case .pass, .none, .hello, .handshake, .resolveValue, .resolveValues, .transactionStep:
            return nil
        case .replace(let value):
            return value
        case .write(let write):
            return written(write, reply: reply)
        case .mapKeys(let names):
            guard case .array(var elements) = reply, let first = elements.first?.bytes, let original = names[first] else { return nil }
            elements[0] = .bulkString(original)
            return .array(elements)
        case .exec(let plans):
            guard case .array(var elements) = reply, elements.count == plans.count else { return nil }
            var changed = false
            for i in elements.indices {
                if let applied = applyNow(plans[i], to: elements[i]) {
                    elements[i] = applied
                    changed = true
                }
            }
            return changed ? .array(elements) : nil
        case .releasing(let inner, let keys, _, _):
            guard let (own, _) = Self.unwrapReleased(reply, keys: keys.count) else { return applyNow(inner, to: reply) }
            return applyNow(inner, to: own) ?? own
        case .releasingInTransaction(let inner, let keys, _):
            let own = Self.unwrapTransaction(reply, keys: keys.count).reply
            return applyNow(inner, to: own) ?? own
        case .releasingOldValue(let inner, _, _):
            return applyNow(inner, to: reply)
        }
    }

    /// The OOM ladder of a write's reply: `+OK` for a shed `-OOM`; `nil` to pass it.
    func written(_ write: WritePlan, reply: RESPValue) -> RESPValue? {
        guard let message = reply.errorMessage, message.hasPrefix("OOM") else { return nil }
        if write.shedOnOOM {
            stats.record(.writesShed)
            logger.debug("upstream out of memory: write shed", metadata: ["route": "\(write.route ?? "-")"])
            return .simpleString(ByteBuffer(string: "OK"))
        }
        stats.record(.oomPassed)
        return nil
    }

    /// The reply the client gets for `reply` under `plan`.
    public func apply(_ plan: ReplyPlan, to reply: RESPValue) async -> RESPValue {
        switch plan {
        case .pass, .none, .hello, .handshake, .replace, .mapKeys, .transactionStep:
            return applyNow(plan, to: reply) ?? reply
        case .resolveValue(let key, let route):
            return await resolve(reply, key: key, route: route)
        case .resolveValues(let keys, let route):
            guard case .array(var elements) = reply, elements.count == keys.count else { return reply }
            for i in elements.indices { elements[i] = await resolve(elements[i], key: keys[i], route: route) }
            return .array(elements)
        case .write(let write):
            if let spill, !write.blobs.isEmpty, write.storedNothing(reply) {
                for blob in write.blobs { await spill.deleteBlob(blob) }
            }
            if reply.errorMessage != nil { return written(write, reply: reply) ?? reply }
            if let key = write.returnsValueOf { return await resolve(reply, key: key, route: write.route) }
            return reply
        case .exec(let plans):
            guard case .array(var elements) = reply, elements.count == plans.count else { return reply }
            for i in elements.indices { elements[i] = await apply(plans[i], to: elements[i]) }
            return .array(elements)
        case .releasing(let inner, let keys, let route, let movesExpiry):
            return await applyReleased(inner, keys: keys, route: route, movesExpiry: movesExpiry, to: reply)
        case .releasingInTransaction(let inner, let keys, let route):
            let (own, heads) = Self.unwrapTransaction(reply, keys: keys.count)
            let answer = await apply(inner, to: own)
            for (key, head) in zip(keys, heads) {
                if case .bulkString(let bytes) = head, SpillEnvelope.mayBeEnvelope(bytes) { await release(head: bytes, key: key, route: route) }
            }
            return answer
        case .releasingOldValue(let inner, let key, let route):
            let answer = await apply(inner, to: reply)
            if let old = Self.releasedOldValue(reply) { await release(head: old, key: key, route: route) }
            return answer
        }
    }

    /// A value reply resolved through the spill (a pointer becomes its verified blob, or a miss).
    func resolve(_ reply: RESPValue, key: CacheKey, route: String?) async -> RESPValue {
        guard let spill, case .bulkString(let bytes) = reply, SpillEnvelope.mayBeEnvelope(bytes) else { return reply }
        let policy = policies.resolve(route: route, key: key)
        let context = CacheContext(route: route, logger: logger, policy: policy, policies: policies)
        do {
            let resolved = try await spill.handle(.get(key), context: context) { _, _ throws(CacheError) -> CacheReply in .value(bytes) }
            guard case .value(let value) = resolved else { return reply }
            if case .pointer = SpillEnvelope.decode(bytes) { stats.record(.pointersResolved) }
            return value.map(RESPValue.bulkString) ?? .null
        } catch {
            return RESPValueWriter.error("ERR spillway: \(error.message)")
        }
    }
}
