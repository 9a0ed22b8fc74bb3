/// The one error type of Spillway.
///
/// Every failure, from a backend, a blob store or a policy, is a `CacheError`. Code upstream
/// decides what to do from ``code``, never by parsing ``message``. The code is an opaque struct,
/// so new codes can be added without breaking exhaustive `switch`es in user code.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// The classified kind of a failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline
        enum Base: String, Sendable {
            case outOfMemory, tooLarge, timeout, connection, busy, protocolError, rejectedByPolicy
            case strictMode, invalidArgument, execAbort, noScript, blobStore, corruption, cancelled
            case unsupported, other
        }

        @usableFromInline
        let base: Base

        @usableFromInline
        init(_ base: Base) { self.base = base }

        /// The server refused a write because it is at `maxmemory` (Redis `-OOM`,
        /// memcached `SERVER_ERROR out of memory storing object`).
        public static let outOfMemory = Code(.outOfMemory)
        /// A value or argument is larger than the backend accepts.
        public static let tooLarge = Code(.tooLarge)
        /// The operation did not complete before its deadline or timeout.
        public static let timeout = Code(.timeout)
        /// The connection could not be made, or broke.
        public static let connection = Code(.connection)
        /// The server is busy or loading (`-BUSY`, `-LOADING`) and may accept the command later.
        public static let busy = Code(.busy)
        /// The peer sent bytes that do not follow the protocol, or a reply of an unexpected shape.
        public static let protocolError = Code(.protocolError)
        /// A Spillway policy refused the operation (key too long with `reject`, value above
        /// `maxValueBytes`, a missing or too long TTL).
        public static let rejectedByPolicy = Code(.rejectedByPolicy)
        /// Strict mode (for tests) found a key that would have been hashed or rejected.
        public static let strictMode = Code(.strictMode)
        /// The caller passed an argument that can never succeed: an empty key, a TTL of zero or less.
        public static let invalidArgument = Code(.invalidArgument)
        /// A Redis transaction was aborted (`-EXECABORT`).
        public static let execAbort = Code(.execAbort)
        /// A script was not in the server's script cache (`-NOSCRIPT`).
        public static let noScript = Code(.noScript)
        /// A blob store failed (disk full, quota exceeded, read-only, permission denied,
        /// unreachable). Its failure class is ``FailureClass/storage``.
        public static let blobStore = Code(.blobStore)
        /// Stored bytes failed verification (a blob whose checksum or length does not match).
        public static let corruption = Code(.corruption)
        /// The task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// The backend does not support this operation.
        public static let unsupported = Code(.unsupported)
        /// Any other server error; the server's text is kept in ``CacheError/message``.
        public static let other = Code(.other)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The server's message, or Spillway's explanation. Never contains a whole oversized key.
    public var message: String
    /// The route the operation ran for, when known.
    public var route: String?
    /// The error underneath, if this one wraps another (an I/O error, a NIO error).
    public var underlying: (any Error)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the classified kind of failure.
    ///   - message: the server's text, or a human explanation.
    ///   - route: the route the operation ran for.
    ///   - underlying: the error underneath, if any.
    @inlinable
    public init(_ code: Code, _ message: String, route: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.route = route
        self.underlying = underlying
    }

    public var description: String {
        var text = "CacheError(\(code)): \(message)"
        if let route { text += " [route: \(route)]" }
        if let underlying { text += " (underlying: \(underlying))" }
        return text
    }

    /// Redis's exact reply text for a write refused at `maxmemory`.
    public static let redisOOMMessage = "OOM command not allowed when used memory > 'maxmemory'."

    /// The failure class used by degradation policies, or `nil` when this error is not a backend
    /// failure that a policy may absorb (policy rejections, invalid arguments, corruption).
    ///
    /// Every `.blobStore` error is ``FailureClass/storage``: a full (`ENOSPC`), quota-exceeded
    /// (`EDQUOT`), read-only (`EROFS`), unwritable or unreachable store alike, because for a
    /// cache each means the same thing: this value cannot be spilled now.
    public var failureClass: FailureClass? {
        switch code.base {
        case .outOfMemory: return .outOfMemory
        case .timeout: return .timeout
        case .connection: return .connection
        case .busy: return .busy
        case .tooLarge: return .tooLarge
        case .other, .execAbort, .protocolError, .noScript: return .other
        case .blobStore: return .storage
        case .rejectedByPolicy, .strictMode, .invalidArgument, .corruption, .cancelled, .unsupported:
            return nil
        }
    }
}

/// The classes of backend failure that a route's degradation policy can act on.
public enum FailureClass: String, Sendable, Hashable, CaseIterable, Codable {
    /// The backend is at its memory limit and refuses writes.
    case outOfMemory
    /// The backend did not answer in time.
    case timeout
    /// The connection failed or broke.
    case connection
    /// The backend is busy or loading.
    case busy
    /// The backend refused the size of a value.
    case tooLarge
    /// Any other backend error.
    case other
    /// The blob store cannot take a spilled value: full (`ENOSPC`), over quota (`EDQUOT`),
    /// read-only (`EROFS`) or unreachable. Handled like ``outOfMemory`` unless `onFailure` names it.
    case storage
}
