public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded blob store: one file per blob under a root directory.
///
/// - Layout: `<root>/<first two hex digits of the id>/<32 hex digits>.blob`, 256 shard
///   directories created on demand; `<root>/tmp/` for writes in progress.
/// - Writes are atomic: the record is written to a new temporary file (`O_EXCL`), `fsync`ed,
///   and renamed into its shard (and the shard directory `fsync`ed, with ``syncDirectories``).
///   A reader never sees half a blob, and a crash leaves at most a temporary file (which the
///   sweeper removes) or loses the newest renames (counted misses).
/// - File names come only from random ``BlobID``s, never from keys or values, so no caller input
///   reaches a path.
/// - The root must belong to the process's user and not be group- or world-writable (checked at
///   init, as is `<root>/tmp/`), and no symbolic link inside the store is ever followed: every
///   open uses `O_NOFOLLOW` relative to a shard directory itself opened with `O_NOFOLLOW`. A blob
///   replaced by a symlink reads as corruption (a counted miss), never through the link.
/// - Each file holds a small header (magic, expiry, creation time, content length, owner key)
///   followed by the content. See `docs/SPILL.md`.
/// - Every system error is a `.blobStore` ``CacheError`` whose message names the `errno`
///   (`ENOSPC`, `EACCES`, `EROFS`, ...) and whose `underlying` is a ``BlobIOError``.
///
/// The store holds no state in memory and is safe to share. Its blocking file I/O (`open`,
/// `write`, `fsync`, `rename`, `read`) runs on ``BlobIOQueue``'s threads, never on the calling
/// task's thread: a request task running on a NIO event loop (as docs/REDIS.md recommends) does
/// not stall that loop's Redis connections while a blob is written and synced.
public struct FileBlobStore: BlobStore {
    /// The store's name, written into pointers.
    public let name: String
    /// The root directory.
    public let root: String
    /// Whether each write also `fsync`s the shard directory after the rename, so that the new
    /// name itself survives a power loss. Off by default: for a cache, a rename lost in a crash
    /// is a counted miss, never wrong bytes (the file is `fsync`ed before the rename either way).
    public let syncDirectories: Bool
    /// Called on the I/O thread before each operation's file I/O (tests check where it runs).
    package var ioHook: (@Sendable () -> Void)?

    static let fileMagic: [UInt8] = Array("SPWBLOB".utf8) + [1]
    static let headerFixedSize = 36
    static let noOwner = UInt32.max

    /// Opens (creating if needed) a store rooted at `root`.
    /// - Parameters:
    ///   - root: the directory; created with mode 0700 if missing.
    ///   - name: the store's name (1 to 255 UTF-8 bytes), written into pointers; by default
    ///     ``defaultName`` (`file@<host name>`), so that an instance on another host that reads
    ///     one of these pointers counts an unknown store instead of looking in its own directory.
    ///   - syncDirectories: also `fsync` the shard directory after each rename.
    /// - Throws: `.blobStore` when the directory cannot be created or written; `.invalidArgument`
    ///   for a bad name, or (with a ``BlobStoreRootError`` as `underlying`) for a root or
    ///   `<root>/tmp/` that is group- or world-writable or owned by another user.
    public init(root: String, name: String = FileBlobStore.defaultName, syncDirectories: Bool = false) throws(CacheError) {
        guard SpillPointer.isValidStoreName(name) else {
            throw CacheError(.invalidArgument, "a blob store's name must be 1...255 UTF-8 bytes")
        }
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.name = name
        self.syncDirectories = syncDirectories
        try Self.makeDirectory(root)
        try Self.checkOwnership(root)
        try Self.makeDirectory(root + "/tmp")
        try Self.checkOwnership(root + "/tmp")
    }

    /// Creates a store in a new, empty directory under the system's temporary directory
    /// (`$TMPDIR`, else `/tmp`). Remove it with ``removeAll()``.
    /// - Throws: `.blobStore` when the directory cannot be created.
    public static func temporary(name: String = FileBlobStore.defaultName) throws(CacheError) -> FileBlobStore {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/spillway-blobs-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw Self.ioError("mkdtemp", base, errno) }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return try FileBlobStore(root: path, name: name)
    }

    /// The default store name: `file@` and this machine's host name (`file@localhost` when it
    /// cannot be read), cut to 255 UTF-8 bytes on a character boundary. A file store is local to
    /// its host, so its pointers name the host.
    public static var defaultName: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let ok = buffer.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) } == 0
        let host = ok ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : ""
        var name = "file@" + (host.isEmpty ? "localhost" : host)
        while name.utf8.count > 255 { name.removeLast() }
        return name
    }

    // MARK: BlobStore

    public func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        try await offload { () throws(CacheError) in try putSync(content, metadata: metadata) }
    }

    public func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? {
        try await offload { () throws(CacheError) in try getSync(id) }
    }

    @discardableResult
    public func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        try await offload { () throws(CacheError) in try deleteSync(id) }
    }

    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool {
        try await offload { () throws(CacheError) in try setExpirySync(id, expiresAt) }
    }

    public func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
        try await offload { () throws(CacheError) in try scanSync(after: cursor, limit: limit) }
    }

    /// Runs blocking file I/O on ``BlobIOQueue``, off the calling task's thread (an event loop
    /// must not wait for an `fsync`), then resumes the caller with its result.
    func offload<T: Sendable>(_ body: @escaping @Sendable () throws(CacheError) -> T) async throws(CacheError) -> T {
        let hook = ioHook
        return try await BlobIOQueue.run { () throws(CacheError) -> T in
            hook?()
            return try body()
        }
    }

    func deleteSync(_ id: BlobID) throws(CacheError) -> Bool {
        guard let shard = try Self.openDirectory(shardPath(Int(id.high >> 56))) else { return false }
        defer { close(shard) }
        if unlinkat(shard, Self.fileName(of: id), 0) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw Self.ioError("unlink", path(of: id), code)
    }

    func setExpirySync(_ id: BlobID, _ expiresAt: BlobTimestamp?) throws(CacheError) -> Bool {
        let path = self.path(of: id)
        guard let fd = try openBlob(id, O_WRONLY) else { return false }
        defer { close(fd) }
        var field = (expiresAt?.millisecondsSince1970 ?? Int64.min).bigEndian
        let written = withUnsafeBytes(of: &field) { pwrite(fd, $0.baseAddress, 8, 8) }
        guard written == 8 else { throw Self.ioError("pwrite", path, written < 0 ? errno : EIO) }
        guard fsync(fd) == 0 else { throw Self.ioError("fsync", path, errno) }
        return true
    }

    func scanSync(after cursor: BlobID?, limit: Int) throws(CacheError) -> BlobScanPage {
        let limit = max(1, limit)
        var out: [BlobInfo] = []
        let firstShard = cursor.map { Int($0.high >> 56) } ?? 0
        for shard in firstShard..<256 {
            var ids = try listShard(shard)
            if let cursor { ids.removeAll { $0 <= cursor } }
            ids.sort()
            for id in ids {
                guard let info = try readInfo(id) else { continue }  // deleted meanwhile
                out.append(info)
                if out.count == limit { return BlobScanPage(blobs: out, next: id) }
            }
        }
        return BlobScanPage(blobs: out, next: nil)
    }

    /// Removes temporary files in `<root>/tmp/` last modified more than `age` ago (by the real
    /// clock): writes that a crash interrupted.
    /// - Returns: how many were removed.
    /// - Throws: `.blobStore` when the directory cannot be listed.
    public func removeStaleWrites(olderThan age: Duration) async throws(CacheError) -> Int {
        let cutoff = BlobClock.wallNow().advanced(by: .zero - age)
        var removed = 0
        try Self.forEachEntry(in: root + "/tmp") { (dir, name) throws(CacheError) in
            guard name.hasSuffix(".tmp") else { return }
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            let modified = BlobTimestamp(millisecondsSince1970: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
            if modified < cutoff && unlinkat(dir, name, 0) == 0 { removed += 1 }
        }
        return removed
    }

    // MARK: Extras

    /// The bytes the store's blob files take (headers included), for reports and the demo.
    /// - Throws: `.blobStore` when a shard cannot be listed.
    public func totalBytes() throws(CacheError) -> Int {
        var total = 0
        for shard in 0..<256 {
            try Self.forEachEntry(in: shardPath(shard)) { (dir, name) throws(CacheError) in
                var st = stat()
                if name.hasSuffix(".blob"), fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0, Int(st.st_mode) & Int(S_IFMT) == Int(S_IFREG) {
                    total += Int(st.st_size)
                }
            }
        }
        return total
    }

    /// The number of blobs held.
    /// - Throws: `.blobStore` when a shard cannot be listed.
    public func count() throws(CacheError) -> Int {
        var total = 0
        for shard in 0..<256 { total += try listShard(shard).count }
        return total
    }

    /// The file that holds a blob (for tests and operators; never built from caller input).
    public func path(of id: BlobID) -> String {
        let hex = id.description
        return root + "/" + hex.prefix(2) + "/" + hex + ".blob"
    }

    /// Deletes every blob, temporary file and directory of the store, and the root itself.
    /// - Throws: `.blobStore` when something cannot be removed.
    public func removeAll() throws(CacheError) {
        for path in (0..<256).map(shardPath) + [root + "/tmp"] {
            try Self.forEachEntry(in: path) { (dir, name) throws(CacheError) in
                if unlinkat(dir, name, 0) != 0 && errno != ENOENT { throw Self.ioError("unlink", path + "/" + name, errno) }
            }
            if path != root + "/tmp" && rmdir(path) != 0 && errno != ENOENT { throw Self.ioError("rmdir", path, errno) }
        }
        for dir in [root + "/tmp", root] where rmdir(dir) != 0 && errno != ENOENT {
            throw Self.ioError("rmdir", dir, errno)
        }
    }
}
