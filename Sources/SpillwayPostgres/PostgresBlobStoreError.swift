internal import PostgresNIO

/// What went wrong in a ``PostgresBlobStore`` (the `underlying` error of its `.blobStore`
/// ``CacheError``s), classified so that operators see "disk full" or "unreachable" rather than a
/// driver's error.
public struct PostgresBlobStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Sendable, Hashable {
        /// The server's disk is full (SQLSTATE 53100) or it is out of memory (53200).
        case diskFull
        /// The server refuses writes: a read-only transaction or standby (25006).
        case readOnly
        /// No connection: refused, closed, reset, shut down, or too many connections (08xxx,
        /// 53300, 57Pxx).
        case unreachable
        /// No answer within the operation timeout.
        case timedOut
        /// Any other server error (see ``sqlState``).
        case server
        /// Anything else from the driver.
        case other
    }

    /// The kind of failure.
    public var kind: Kind
    /// The store operation (`put`, `get`, `scan`, ...).
    public var operation: String
    /// The server's SQLSTATE, when the server answered with an error.
    public var sqlState: String?
    /// The server's message or the driver's error code (never the query's parameters).
    public var detail: String

    /// Creates an error.
    public init(kind: Kind, operation: String, sqlState: String? = nil, detail: String) {
        self.kind = kind
        self.operation = operation
        self.sqlState = sqlState
        self.detail = detail
    }

    /// Classifies a postgres-nio error.
    public init(_ error: any Error, operation: String) {
        self.operation = operation
        guard let psql = error as? PSQLError else {
            self.kind = .other
            self.sqlState = nil
            self.detail = "\(type(of: error))"
            return
        }
        if psql.code == .server {
            let state = psql.serverInfo?[.sqlState] ?? ""
            self.sqlState = state
            self.detail = psql.serverInfo?[.message] ?? "server error"
            self.kind = Self.kind(ofSQLState: state)
        } else {
            self.sqlState = nil
            self.detail = psql.code.description
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                self.kind = .unreachable
            default:
                self.kind = .other
            }
        }
    }

    /// The kind of a SQLSTATE.
    static func kind(ofSQLState state: String) -> Kind {
        switch state {
        case "53100", "53200": .diskFull
        case "25006": .readOnly
        case "53300": .unreachable
        default:
            if state.hasPrefix("08") || state.hasPrefix("57P") { .unreachable } else { .server }
        }
    }

    public var description: String {
        "\(operation): \(kind.rawValue)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "") + ": \(detail)"
    }
}
