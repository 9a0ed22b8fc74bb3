public import Hummingbird
public import Spillway
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Adapts an existing Hummingbird `PersistDriver` into a Spillway ``CacheClient``, so that the
/// guarded chain (key guard, limits, degradation) can sit in front of it.
///
/// Values are stored as byte arrays (`[UInt8]`). The persist API has no atomic counter,
/// conditional-update or GCRA step, so `increment`, `set … XX`, `returnPrevious`, `expire` and
/// `throttle` are read-then-write here (``CacheCapabilities/atomicThrottle`` is `false`); `set … NX`
/// uses the driver's atomic `create`. A ``RateLimiter`` over this client logs a warning at
/// creation for that reason: concurrent steps on one key may both pass.
///
/// The GCRA step's times are wall-clock nanoseconds since 1970 (the real time at creation,
/// advanced by `clock`), so processes that share the driver agree on them; a time relative to
/// each process's start would make one process read another's state as far past or future.
///
/// Errors are classified at this boundary: a `CacheError`
/// passes through, a reply carrying Redis's OOM text is `.outOfMemory`, anything else `.other`.
public struct PersistDriverClient<Base: PersistDriver, C: Clock>: CacheClient where C.Duration == Duration {
    /// The wrapped driver.
    public let base: Base
    /// The clock of the read-then-write GCRA step.
    public let clock: C
    private let origin: C.Instant
    /// The wall-clock time at `origin`, in nanoseconds since 1970.
    private let originEpochNanoseconds: Int64

    /// What the adapter can do: nothing atomic beyond `create`.
    public var capabilities: CacheCapabilities { CacheCapabilities(atomicSetReturningPrevious: false, atomicThrottle: false) }

    /// Wraps a driver.
    /// - Parameters:
    ///   - base: the driver.
    ///   - clock: the clock for rate-limit steps.
    ///   - epochNanoseconds: the wall-clock time, in nanoseconds since 1970, that `clock.now`
    ///     stands for at creation: the real time by default (tests pass a fixed one).
    public init(_ base: Base, clock: C, epochNanoseconds: Int64 = PersistDriverClient.wallClockNanoseconds()) {
        self.base = base
        self.clock = clock
        self.origin = clock.now
        self.originEpochNanoseconds = epochNanoseconds
    }

    /// The real wall-clock time (`CLOCK_REALTIME`), in nanoseconds since 1970.
    public static func wallClockNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Now, in wall-clock nanoseconds since 1970.
    private var nowEpochNanoseconds: Int64 {
        let (now, overflow) = originEpochNanoseconds.addingReportingOverflow(origin.duration(to: clock.now).nanoseconds)
        return overflow ? .max : now
    }

    /// A persist driver does not report memory.
    /// - Throws: ``CacheError/Code/unsupported`` always.
    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        throw CacheError(.unsupported, "a PersistDriver does not report memory use")
    }

    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        switch operation {
        case .get(let key):
            return .value(try await read(key))
        case .mget(let keys):
            var values: [ByteBuffer?] = []
            for key in keys { values.append(try await read(key)) }
            return .values(values)
        case .exists(let key):
            return .bool(try await read(key) != nil)
        case .delete(let key):
            let existed = try await read(key) != nil
            try await call { try await base.remove(key: try name(key)) }
            return .count(existed ? 1 : 0)
        case .set(let key, let value, let options):
            let previous = options.returnPrevious || options.condition == .ifExists ? try await read(key) : nil
            switch options.condition {
            case .ifNotExists:
                do {
                    try await base.create(key: try name(key), value: Array(value.readableBytesView), expires: options.expiry.duration)
                } catch let error as PersistError where error == .duplicate {
                    let current: ByteBuffer? = options.returnPrevious ? try await read(key) : nil
                    return .write(WriteResult(.conditionNotMet, previous: current))
                } catch {
                    throw Self.classify(error)
                }
                return .write(WriteResult(.stored))
            case .ifExists where previous == nil:
                return .write(WriteResult(.conditionNotMet))
            case .ifExists, .always:
                try await write(key, value, ttl: options.expiry.duration)
                return .write(WriteResult(.stored, previous: previous))
            }
        case .mset(let pairs, let ttl):
            for pair in pairs { try await write(pair.key, pair.value, ttl: ttl) }
            return .write(WriteResult(.stored))
        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            // Not atomic either: the capability is not claimed.
            var heads: [ByteBuffer?] = []
            for pair in pairs {
                let value = try await read(pair.key)
                heads.append(value.map { $0.getSlice(at: $0.readerIndex, length: min(max(headBytes, 0), $0.readableBytes))! })
            }
            for pair in pairs { try await write(pair.key, pair.value, ttl: ttl) }
            return .write(WriteResult(.stored, previousHeads: heads))
        case .increment(let key, let by, let ttlOnCreate):
            let current = try await read(key)
            let start: Int64
            if let current {
                guard let n = current.withUnsafeReadableBytes({ DecimalInteger.parseOrNil($0) }) else {
                    throw CacheError(.other, "ERR value is not an integer or out of range")
                }
                start = n
            } else {
                start = 0
            }
            let (sum, overflow) = start.addingReportingOverflow(by)
            if overflow { throw CacheError(.other, "ERR increment or decrement would overflow") }
            try await write(key, ByteBuffer(string: String(sum)), ttl: current == nil ? ttlOnCreate : nil)
            return .integer(sum)
        case .expire(let key, let ttl):
            guard let value = try await read(key) else { return .bool(false) }
            try await write(key, value, ttl: ttl)
            return .bool(true)
        case .deleteReturningHead(let key, let headBytes):
            // Not atomic (a PersistDriver has no such step): the capability is not claimed.
            guard let value = try await read(key) else { return .headed(false, previousHead: nil) }
            try await call { try await base.remove(key: try name(key)) }
            return .headed(true, previousHead: value.getSlice(at: value.readerIndex, length: min(max(headBytes, 0), value.readableBytes)))
        case .expireReturningHead(let key, let ttl, let headBytes):
            guard let value = try await read(key) else { return .headed(false, previousHead: nil) }
            try await write(key, value, ttl: ttl)
            return .headed(true, previousHead: value.getSlice(at: value.readerIndex, length: min(max(headBytes, 0), value.readableBytes)))
        case .throttle(let key, let parameters):
            let now = nowEpochNanoseconds
            let stored = try await read(key).flatMap { $0.withUnsafeReadableBytes { DecimalInteger.parseOrNil($0) } }
            let step = GCRA.step(storedTAT: stored, now: now, parameters: parameters)
            if let newTAT = step.newTAT {
                try await write(key, ByteBuffer(string: String(newTAT)), ttl: .nanoseconds(step.ttlNanoseconds))
            }
            return .throttle(step.decision)
        }
    }

    private func name(_ key: CacheKey) throws(CacheError) -> String {
        guard let string = String(validating: key.bytes.readableBytesView, as: UTF8.self) else {
            throw CacheError(.invalidArgument, "a PersistDriver key must be UTF-8; key starts \"\(key.preview())\"")
        }
        return string
    }

    private func read(_ key: CacheKey) async throws(CacheError) -> ByteBuffer? {
        let name = try name(key)
        let bytes = try await call { try await base.get(key: name, as: [UInt8].self) }
        return bytes.map { ByteBuffer(bytes: $0) }
    }

    private func write(_ key: CacheKey, _ value: ByteBuffer, ttl: Duration?) async throws(CacheError) {
        let name = try name(key)
        try await call { try await base.set(key: name, value: Array(value.readableBytesView), expires: ttl) }
    }

    private func call<R>(_ body: () async throws -> R) async throws(CacheError) -> R {
        do {
            return try await body()
        } catch {
            throw Self.classify(error)
        }
    }

    /// Classifies a driver's error as a ``CacheError``.
    static func classify(_ error: any Error) -> CacheError {
        if let error = error as? CacheError { return error }
        let text = String(describing: error)
        if text.contains("OOM command not allowed") {
            return CacheError(.outOfMemory, CacheError.redisOOMMessage, underlying: error)
        }
        return CacheError(.other, text, underlying: error)
    }
}

extension PersistDriverClient where C == ContinuousClock {
    /// Wraps a driver, on the continuous clock.
    /// - Parameter base: the driver.
    public init(_ base: Base) {
        self.init(base, clock: ContinuousClock())
    }
}
