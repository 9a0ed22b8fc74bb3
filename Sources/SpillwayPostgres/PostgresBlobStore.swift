public import Logging
public import NIOCore
public import PostgresNIO
public import ServiceLifecycle
public import Spillway
internal import Synchronization

/// A ``BlobStore`` in one PostgreSQL table, shared by every instance of a deployment: a value
/// spilled by one instance is read by the others.
///
/// - **The table** (created if missing, named by ``Configuration/table``):
///   `id bytea PRIMARY KEY` (the 16 bytes of the ``BlobID``, so rows order as ids do),
///   `content bytea`, `digest bytea` (XXH3-128 of the content, checked on every read),
///   `expiry bigint` (milliseconds since 1970, `NULL` for none, indexed), `created bigint`,
///   `owner bytea` (the owner key, for the sweeper). With ``Configuration/unlogged`` the table is
///   `UNLOGGED`: faster writes, and a crash truncates it, which readers see as counted misses.
/// - **Expiry cleanup** happens in bounded batches (``removeExpired(before:limit:)``, one
///   `DELETE … LIMIT` each), which ``BlobSweeper`` calls before it scans for orphans.
/// - **The pool** is postgres-nio's `PostgresClient`: ``run()`` runs it, so the store is a
///   `Service` to put in the application's `ServiceGroup` (queries wait until it runs).
/// - **Errors**: every failure is a `.blobStore` ``CacheError`` (the ``FailureClass/storage``
///   class the route's ladder handles) whose `underlying` is a ``PostgresBlobStoreError`` naming
///   the kind: disk full, read-only, unreachable, timed out, or another server error with its
///   SQLSTATE. A stored row whose digest does not match its content is `.corruption`.
public struct PostgresBlobStore: BlobStore, Service {
    /// Where and how the store connects.
    public struct Configuration: Sendable {
        /// The server's host name or address.
        public var host: String
        /// The server's port.
        public var port: Int
        /// The user to log in as.
        public var username: String
        /// The password, if the server asks for one.
        public var password: String?
        /// The database.
        public var database: String
        /// The table's name: letters, digits and underscores, starting with a letter or an
        /// underscore, at most 63 bytes (checked at init).
        public var table: String
        /// Whether the table is created `UNLOGGED` (no write-ahead log: faster, emptied by a crash).
        public var unlogged: Bool
        /// The most connections the pool opens.
        public var maximumConnections: Int
        /// How long one operation may take before it fails as `.blobStore` (timed out).
        public var operationTimeout: Duration
        /// TLS: postgres-nio's setting (`.disable` by default; `.prefer` or `.require` with a
        /// client configuration in production).
        public var tls: PostgresClient.Configuration.TLS

        /// Creates a configuration.
        public init(
            host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
            table: String = "spillway_blobs", unlogged: Bool = false, maximumConnections: Int = 8,
            operationTimeout: Duration = .seconds(10), tls: PostgresClient.Configuration.TLS = .disable
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.table = table
            self.unlogged = unlogged
            self.maximumConnections = maximumConnections
            self.operationTimeout = operationTimeout
            self.tls = tls
        }
    }

    /// The store's name, written into pointers: by default `postgres://host:port/database/table`.
    public let name: String
    /// The configuration it was made with.
    public let configuration: Configuration
    /// The pool (postgres-nio's client), run by ``run()``.
    public let client: PostgresClient
    let logger: Logger
    let setup: TableSetup

    /// Creates a store. Nothing connects until ``run()`` runs; the table is created on first use.
    /// - Parameters:
    ///   - configuration: the server, the table and the pool.
    ///   - name: the name written into pointers (1 to 255 UTF-8 bytes); every instance sharing
    ///     the table must use the same one. By default derived from the server, database and table.
    ///   - logger: where the pool logs in the background.
    /// - Throws: `.invalidArgument` for a bad table name or store name.
    public init(configuration: Configuration, name: String? = nil, logger: Logger = Logger(label: "spillway.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws(CacheError) {
        guard Self.isValidTableName(configuration.table) else {
            throw CacheError(.invalidArgument, "postgres blob store: table name '\(configuration.table)' must be 1-63 letters, digits or underscores, not starting with a digit")
        }
        let name = name ?? "postgres://\(configuration.host):\(configuration.port)/\(configuration.database)/\(configuration.table)"
        guard SpillPointer.isValidStoreName(name) else {
            throw CacheError(.invalidArgument, "a blob store's name must be 1...255 UTF-8 bytes")
        }
        var pg = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: configuration.tls
        )
        pg.options.maximumConnections = max(1, configuration.maximumConnections)
        pg.options.connectTimeout = min(configuration.operationTimeout, .seconds(10))
        self.name = name
        self.configuration = configuration
        self.logger = logger
        self.client = PostgresClient(configuration: pg, backgroundLogger: logger)
        self.setup = TableSetup()
    }

    /// Runs the connection pool until the task is cancelled or the service group shuts down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await client.run()
        }
    }

    /// Runs `body` with the pool running, and stops the pool afterwards (for tools and tests
    /// that have no service group).
    public func withRunning<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    // MARK: BlobStore

    public func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        try await prepared()
        let digest = Self.digestBytes(content)
        for _ in 0..<3 {
            let id = BlobID.random()
            var binds = PostgresBindings(capacity: 6)
            binds.append(Self.bytes(of: id))
            binds.append(content)
            binds.append(digest)
            binds.append(metadata.expiresAt?.millisecondsSince1970)
            binds.append(metadata.createdAt.millisecondsSince1970)
            binds.append(metadata.ownerKey?.bytes)
            do {
                try await execute("INSERT INTO \(table) (id, content, digest, expiry, created, owner) VALUES ($1, $2, $3, $4, $5, $6)", binds, "put")
                return id
            } catch let error as PostgresBlobStoreError where error.sqlState == "23505" {
                continue  // an id drawn twice: draw again
            } catch {
                throw Self.failure(error, "put")
            }
        }
        throw CacheError(.blobStore, "postgres blob store: put: three random ids in a row already existed")
    }

    public func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? {
        try await prepared()
        var binds = PostgresBindings(capacity: 1)
        binds.append(Self.bytes(of: id))
        let rows: [PostgresRow]
        do {
            rows = try await query("SELECT content, digest FROM \(table) WHERE id = $1", binds, "get")
        } catch {
            throw Self.failure(error, "get")
        }
        guard let row = rows.first else { return nil }
        let content: ByteBuffer
        let digest: ByteBuffer
        do {
            (content, digest) = try row.decode((ByteBuffer, ByteBuffer).self)
        } catch {
            throw CacheError(.corruption, "postgres blob store: blob \(id) has an unreadable row", underlying: error)
        }
        guard digest == Self.digestBytes(content) else {
            throw CacheError(.corruption, "postgres blob store: blob \(id): content does not match its stored digest")
        }
        return content
    }

    @discardableResult
    public func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        try await prepared()
        var binds = PostgresBindings(capacity: 1)
        binds.append(Self.bytes(of: id))
        do {
            return try await !query("DELETE FROM \(table) WHERE id = $1 RETURNING 1", binds, "delete").isEmpty
        } catch {
            throw Self.failure(error, "delete")
        }
    }

    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool {
        try await prepared()
        var binds = PostgresBindings(capacity: 2)
        binds.append(Self.bytes(of: id))
        binds.append(expiresAt?.millisecondsSince1970)
        do {
            return try await !query("UPDATE \(table) SET expiry = $2 WHERE id = $1 RETURNING 1", binds, "setExpiry").isEmpty
        } catch {
            throw Self.failure(error, "setExpiry")
        }
    }

    public func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
        try await prepared()
        let limit = max(1, limit)
        var binds = PostgresBindings(capacity: 2)
        binds.append(Self.bytes(of: cursor ?? BlobID(high: 0, low: 0)))
        binds.append(Int64(limit) + 1)
        let op = cursor == nil ? ">=" : ">"
        var blobs: [BlobInfo] = []
        do {
            let rows = try await query(
                "SELECT id, octet_length(content)::bigint, expiry, created, owner FROM \(table) WHERE id \(op) $1 ORDER BY id LIMIT $2", binds, "scan")
            for row in rows {
                let (idBytes, length, expiry, created, owner) = try row.decode((ByteBuffer, Int64, Int64?, Int64, ByteBuffer?).self)
                guard let id = Self.id(from: idBytes) else {
                    throw CacheError(.corruption, "postgres blob store: a row's id is not 16 bytes")
                }
                blobs.append(
                    BlobInfo(
                        id: id, length: Int(length),
                        metadata: BlobMetadata(
                            createdAt: BlobTimestamp(millisecondsSince1970: created),
                            expiresAt: expiry.map { BlobTimestamp(millisecondsSince1970: $0) }, ownerKey: owner.map { CacheKey(bytes: $0) })
                    ))
            }
        } catch let error as CacheError {
            throw error
        } catch {
            throw Self.failure(error, "scan")
        }
        guard blobs.count > limit else { return BlobScanPage(blobs: blobs, next: nil) }
        blobs.removeLast()
        return BlobScanPage(blobs: blobs, next: blobs.last?.id)
    }

    /// Deletes at most `limit` blobs whose expiry is at or before `now`, in one statement.
    public func removeExpired(before now: BlobTimestamp, limit: Int) async throws(CacheError) -> ExpiredRemoval? {
        try await prepared()
        var binds = PostgresBindings(capacity: 2)
        binds.append(now.millisecondsSince1970)
        binds.append(Int64(max(1, limit)))
        do {
            let rows = try await query(
                "DELETE FROM \(table) WHERE id IN (SELECT id FROM \(table) WHERE expiry <= $1 ORDER BY expiry LIMIT $2) RETURNING octet_length(content)::bigint",
                binds, "removeExpired")
            var bytes = 0
            for row in rows { bytes += Int(try row.decode(Int64.self)) }
            return ExpiredRemoval(count: rows.count, bytes: bytes)
        } catch {
            throw Self.failure(error, "removeExpired")
        }
    }

    // MARK: Extras

    /// The number of blobs in the table.
    /// - Throws: `.blobStore` when the server cannot answer.
    public func count() async throws(CacheError) -> Int {
        try await prepared()
        do {
            let rows = try await query("SELECT count(*)::bigint FROM \(table)", PostgresBindings(), "count")
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        } catch {
            throw Self.failure(error, "count")
        }
    }

    /// Drops the table (for tests and tools).
    /// - Throws: `.blobStore` when the server cannot do it.
    public func dropTable() async throws(CacheError) {
        do {
            try await execute("DROP TABLE IF EXISTS \(table)", PostgresBindings(), "drop")
            setup.reset()
        } catch {
            throw Self.failure(error, "drop")
        }
    }

    /// Creates the table and its expiry index when the table is missing (an existing table is
    /// used as it is). Called on first use; call it at start-up to fail early.
    /// - Throws: `.blobStore` when the server cannot be reached or refuses.
    public func prepare() async throws(CacheError) {
        let kind = configuration.unlogged ? "UNLOGGED TABLE" : "TABLE"
        do {
            // A table that exists is used as it is: a read-only session (a standby, a read-only
            // role) could not run the DDL, and needs none.
            var binds = PostgresBindings(capacity: 1)
            binds.append(table)
            if try await query("SELECT to_regclass($1) IS NOT NULL", binds, "find table").first?.decode(Bool.self) == true {
                setup.markReady()
                return
            }
            try await execute(
                "CREATE \(kind) IF NOT EXISTS \(table) (id bytea PRIMARY KEY, content bytea NOT NULL, digest bytea NOT NULL, expiry bigint, created bigint NOT NULL, owner bytea)",
                PostgresBindings(), "create table")
            try await execute("CREATE INDEX IF NOT EXISTS \"\(configuration.table)_expiry\" ON \(table) (expiry) WHERE expiry IS NOT NULL", PostgresBindings(), "create index")
        } catch let error as PostgresBlobStoreError where ["23505", "42P07", "42710"].contains(error.sqlState ?? "") {
            // Another session created it at the same moment: `CREATE TABLE IF NOT EXISTS` racing
            // another fails on the table's row type (42710 "type already exists", or 23505 on
            // pg_type's unique index), as several first puts of one pool do.
        } catch {
            throw Self.failure(error, "create table")
        }
        setup.markReady()
    }

    // MARK: Internals

    var table: String { "\"\(configuration.table)\"" }

    func prepared() async throws(CacheError) {
        if setup.isReady { return }
        try await prepare()
    }

    /// Runs a statement and collects its rows, within the operation timeout. Errors are
    /// ``PostgresBlobStoreError``.
    func query(_ sql: String, _ binds: PostgresBindings, _ operation: String) async throws -> [PostgresRow] {
        let client = self.client
        let logger = self.logger
        let timeout = configuration.operationTimeout
        do {
            return try await withThrowingTaskGroup(of: [PostgresRow]?.self) { group in
                group.addTask {
                    try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let rows = first else {
                    throw PostgresBlobStoreError(kind: .timedOut, operation: operation, detail: "no answer within \(timeout)")
                }
                return rows
            }
        } catch let error as PostgresBlobStoreError {
            throw error
        } catch {
            throw PostgresBlobStoreError(error, operation: operation)
        }
    }

    func execute(_ sql: String, _ binds: PostgresBindings, _ operation: String) async throws {
        _ = try await query(sql, binds, operation)
    }

    static func failure(_ error: any Error, _ operation: String) -> CacheError {
        if let error = error as? CacheError { return error }
        let typed = (error as? PostgresBlobStoreError) ?? PostgresBlobStoreError(error, operation: operation)
        return CacheError(.blobStore, "postgres blob store: \(typed)", underlying: typed)
    }

    /// Whether `name` is a table name the store accepts: 1 to 63 letters, digits or
    /// underscores, not starting with a digit.
    public static func isValidTableName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        for (i, c) in bytes.enumerated() {
            let letter = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F
            let digit = c >= 0x30 && c <= 0x39
            if !(letter || (digit && i > 0)) { return false }
        }
        return true
    }

    static func bytes(of id: BlobID) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(16)
        b.writeInteger(id.high)
        b.writeInteger(id.low)
        return b
    }

    static func id(from bytes: ByteBuffer) -> BlobID? {
        guard bytes.readableBytes == 16, let high = bytes.getInteger(at: bytes.readerIndex, as: UInt64.self),
            let low = bytes.getInteger(at: bytes.readerIndex + 8, as: UInt64.self)
        else { return nil }
        return BlobID(high: high, low: low)
    }

    static func digestBytes(_ content: ByteBuffer) -> ByteBuffer {
        let d = XXH3.hash128(content)
        var b = ByteBuffer()
        b.reserveCapacity(16)
        b.writeInteger(d.high)
        b.writeInteger(d.low)
        return b
    }
}

/// Whether the table was created, shared by copies of a store.
final class TableSetup: Sendable {
    private let ready = Atomic(false)
    var isReady: Bool { ready.load(ordering: .acquiring) }
    func markReady() { ready.store(true, ordering: .releasing) }
    func reset() { ready.store(false, ordering: .releasing) }
}
