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
/// - Each file holds a small header (magic, expiry, creation time, content length, owner key)
///   followed by the content. See `docs/SPILL.md`.
/// - Every system error is a `.blobStore` ``CacheError`` whose message names the `errno`
///   (`ENOSPC`, `EACCES`, `EROFS`, ...) and whose `underlying` is a ``BlobIOError``.
///
/// The store holds no state in memory and is safe to share. Its calls do blocking file I/O on
/// the calling task's thread.
public struct FileBlobStore: BlobStore {
    /// The store's name, written into pointers.
    public let name: String
    /// The root directory.
    public let root: String
    /// Whether each write also `fsync`s the shard directory after the rename, so that the new
    /// name itself survives a power loss. Off by default: for a cache, a rename lost in a crash
    /// is a counted miss, never wrong bytes (the file is `fsync`ed before the rename either way).
    public let syncDirectories: Bool

    static let fileMagic: [UInt8] = Array("SPWBLOB".utf8) + [1]
    static let headerFixedSize = 36
    static let noOwner = UInt32.max

    /// Opens (creating if needed) a store rooted at `root`.
    /// - Parameters:
    ///   - root: the directory; created with mode 0700 if missing.
    ///   - name: the store's name (1 to 255 UTF-8 bytes), written into pointers.
    ///   - syncDirectories: also `fsync` the shard directory after each rename.
    /// - Throws: `.blobStore` when the directory cannot be created or written, `.invalidArgument`
    ///   for a bad name.
    public init(root: String, name: String = "file", syncDirectories: Bool = false) throws(CacheError) {
        guard SpillPointer.isValidStoreName(name) else {
            throw CacheError(.invalidArgument, "a blob store's name must be 1...255 UTF-8 bytes")
        }
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.name = name
        self.syncDirectories = syncDirectories
        try Self.makeDirectory(root)
        try Self.makeDirectory(root + "/tmp")
    }

    /// Creates a store in a new, empty directory under the system's temporary directory
    /// (`$TMPDIR`, else `/tmp`). Remove it with ``removeAll()``.
    /// - Throws: `.blobStore` when the directory cannot be created.
    public static func temporary(name: String = "file") throws(CacheError) -> FileBlobStore {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/spillway-blobs-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw Self.ioError("mkdtemp", base, errno) }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return try FileBlobStore(root: path, name: name)
    }

    // MARK: BlobStore

    public func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        try putSync(content, metadata: metadata)
    }

    public func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? {
        try getSync(id)
    }

    @discardableResult
    public func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        let path = self.path(of: id)
        if unlink(path) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw Self.ioError("unlink", path, code)
    }

    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool {
        let path = self.path(of: id)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return false }
            throw Self.ioError("open", path, code)
        }
        defer { close(fd) }
        var field = (expiresAt?.millisecondsSince1970 ?? Int64.min).bigEndian
        let written = withUnsafeBytes(of: &field) { pwrite(fd, $0.baseAddress, 8, 8) }
        guard written == 8 else { throw Self.ioError("pwrite", path, written < 0 ? errno : EIO) }
        guard fsync(fd) == 0 else { throw Self.ioError("fsync", path, errno) }
        return true
    }

    public func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
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
        for name in try Self.listDirectory(root + "/tmp") where name.hasSuffix(".tmp") {
            let p = root + "/tmp/" + name
            var st = stat()
            guard stat(p, &st) == 0 else { continue }
            let modified = BlobTimestamp(millisecondsSince1970: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
            if modified < cutoff && unlink(p) == 0 { removed += 1 }
        }
        return removed
    }

    // MARK: Extras

    /// The bytes the store's blob files take (headers included), for reports and the demo.
    /// - Throws: `.blobStore` when a shard cannot be listed.
    public func totalBytes() throws(CacheError) -> Int {
        var total = 0
        for shard in 0..<256 {
            for id in try listShard(shard) {
                var st = stat()
                if stat(path(of: id), &st) == 0 { total += Int(st.st_size) }
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
        for shard in 0..<256 {
            let dir = shardPath(shard)
            for id in try listShard(shard) {
                let p = path(of: id)
                if unlink(p) != 0 && errno != ENOENT { throw Self.ioError("unlink", p, errno) }
            }
            if rmdir(dir) != 0 && errno != ENOENT { throw Self.ioError("rmdir", dir, errno) }
        }
        for name in try Self.listDirectory(root + "/tmp") {
            let p = root + "/tmp/" + name
            if unlink(p) != 0 && errno != ENOENT { throw Self.ioError("unlink", p, errno) }
        }
        for dir in [root + "/tmp", root] where rmdir(dir) != 0 && errno != ENOENT {
            throw Self.ioError("rmdir", dir, errno)
        }
    }

    // MARK: Files

    func shardPath(_ shard: Int) -> String {
        let hex = "0123456789abcdef".utf8
        let hi = hex[hex.index(hex.startIndex, offsetBy: shard >> 4)]
        let lo = hex[hex.index(hex.startIndex, offsetBy: shard & 15)]
        return root + "/" + String(decoding: [hi, lo], as: UTF8.self)
    }

    func putSync(_ content: ByteBuffer, metadata: BlobMetadata) throws(CacheError) -> BlobID {
        let id = BlobID.random()
        let header = Self.header(content.readableBytes, metadata)
        let temporary = root + "/tmp/" + id.description + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.ioError("open", temporary, errno) }
        do throws(CacheError) {
            var failure = header.withUnsafeBytes { Self.writeAll(fd, $0, temporary) }
            if failure == nil { failure = content.withUnsafeReadableBytes { Self.writeAll(fd, $0, temporary) } }
            if let failure { throw failure }
            guard fsync(fd) == 0 else { throw Self.ioError("fsync", temporary, errno) }
            guard close(fd) == 0 else {
                let code = errno
                unlink(temporary)
                throw Self.ioError("close", temporary, code)
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        let shard = shardPath(Int(id.high >> 56))
        let final = path(of: id)
        do throws(CacheError) {
            if rename(temporary, final) != 0 {
                let code = errno
                guard code == ENOENT else { throw Self.ioError("rename", final, code) }
                try Self.makeDirectory(shard)
                guard rename(temporary, final) == 0 else { throw Self.ioError("rename", final, errno) }
            }
            if syncDirectories { try Self.syncDirectory(shard) }
        } catch {
            unlink(temporary)
            throw error
        }
        return id
    }

    func getSync(_ id: BlobID) throws(CacheError) -> ByteBuffer? {
        let path = self.path(of: id)
        guard let fd = try Self.openForReading(path) else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.ioError("fstat", path, errno) }
        let size = Int(st.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var readError: Int32 = 0
        while buffer.readableBytes < size {
            let wanted = size - buffer.readableBytes
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { out in
                let got = read(fd, out.baseAddress, min(out.count, wanted))
                if got < 0 { readError = errno; return 0 }
                return got
            }
            if readError == EINTR { readError = 0; continue }
            if readError != 0 { throw Self.ioError("read", path, readError) }
            if n == 0 { break }
        }
        guard Self.parse(&buffer) != nil else {
            throw CacheError(.corruption, "blob file \(path) has an unreadable header")
        }
        return buffer
    }

    /// Opens a blob file read-only: `nil` when it does not exist, a `.blobStore` error otherwise.
    static func openForReading(_ path: String) throws(CacheError) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw ioError("open", path, code)
        }
        return fd
    }

    /// Reads the header of a blob file, or `nil` when the file is gone.
    func readInfo(_ id: BlobID) throws(CacheError) -> BlobInfo? {
        let path = self.path(of: id)
        guard let fd = try Self.openForReading(path) else { return nil }
        defer { close(fd) }
        var fixed = [UInt8](repeating: 0, count: Self.headerFixedSize)
        let got = fixed.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard got == Self.headerFixedSize else {
            // A short or unreadable header: report the blob with no metadata worth keeping it
            // for, so the sweeper reclaims it.
            return BlobInfo(id: id, length: 0, metadata: BlobMetadata(createdAt: BlobTimestamp(millisecondsSince1970: 0), expiresAt: BlobTimestamp(millisecondsSince1970: 0)))
        }
        var head = ByteBuffer(bytes: fixed)
        let ownerLength = head.getInteger(at: 32, as: UInt32.self)!
        if ownerLength != Self.noOwner && ownerLength > 0 && ownerLength < 1 << 26 {
            var owner = [UInt8](repeating: 0, count: Int(ownerLength))
            let n = owner.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(Self.headerFixedSize)) }
            if n == Int(ownerLength) { head.writeBytes(owner) }
        }
        guard let parsed = Self.parse(&head, contentMayBeShort: true) else {
            return BlobInfo(id: id, length: 0, metadata: BlobMetadata(createdAt: BlobTimestamp(millisecondsSince1970: 0), expiresAt: BlobTimestamp(millisecondsSince1970: 0)))
        }
        return BlobInfo(id: id, length: parsed.length, metadata: parsed.metadata)
    }

    /// The header: magic(8) expiry(8) createdAt(8) length(8) ownerLength(4) owner(k).
    static func header(_ length: Int, _ metadata: BlobMetadata) -> [UInt8] {
        var b = ByteBuffer()
        b.reserveCapacity(headerFixedSize + (metadata.ownerKey?.count ?? 0))
        b.writeBytes(fileMagic)
        b.writeInteger(metadata.expiresAt?.millisecondsSince1970 ?? Int64.min)
        b.writeInteger(metadata.createdAt.millisecondsSince1970)
        b.writeInteger(UInt64(length))
        if let owner = metadata.ownerKey {
            b.writeInteger(UInt32(owner.count))
            b.writeImmutableBuffer(owner.bytes)
        } else {
            b.writeInteger(noOwner)
        }
        return Array(b.readableBytesView)
    }

    /// Parses a header, leaving `buffer`'s readable bytes on the content.
    static func parse(_ buffer: inout ByteBuffer, contentMayBeShort: Bool = false) -> (length: Int, metadata: BlobMetadata)? {
        guard buffer.readableBytes >= headerFixedSize,
            buffer.readBytes(length: 8) == fileMagic,
            let expiry = buffer.readInteger(as: Int64.self),
            let created = buffer.readInteger(as: Int64.self),
            let length = buffer.readInteger(as: UInt64.self), length <= UInt64(Int.max),
            let ownerLength = buffer.readInteger(as: UInt32.self)
        else { return nil }
        var owner: CacheKey?
        if ownerLength != noOwner {
            guard let bytes = buffer.readSlice(length: Int(ownerLength)) else { return nil }
            owner = CacheKey(bytes: bytes)
        }
        if !contentMayBeShort && buffer.readableBytes != Int(length) {
            // A length that does not match the file: leave the verification to the pointer's
            // length and digest, which will fail; but never read past the end.
            if buffer.readableBytes < Int(length) { return nil }
        }
        let metadata = BlobMetadata(
            createdAt: BlobTimestamp(millisecondsSince1970: created),
            expiresAt: expiry == Int64.min ? nil : BlobTimestamp(millisecondsSince1970: expiry),
            ownerKey: owner
        )
        return (Int(length), metadata)
    }

    func listShard(_ shard: Int) throws(CacheError) -> [BlobID] {
        let names: [String]
        do {
            names = try Self.listDirectory(shardPath(shard))
        } catch {
            if (error.underlying as? BlobIOError)?.errno == ENOENT { return [] }
            throw error
        }
        return names.compactMap { name in
            guard name.hasSuffix(".blob") else { return nil }
            return BlobID(hex: name.dropLast(5))
        }
    }

    static func listDirectory(_ path: String) throws(CacheError) -> [String] {
        guard let dir = opendir(path) else { throw ioError("opendir", path, errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func makeDirectory(_ path: String) throws(CacheError) {
        if mkdir(path, 0o700) == 0 { return }
        let code = errno
        guard code == EEXIST else { throw ioError("mkdir", path, code) }
        var st = stat()
        guard stat(path, &st) == 0, Int(st.st_mode) & Int(S_IFMT) == Int(S_IFDIR) else { throw ioError("mkdir", path, ENOTDIR) }
    }

    static func syncDirectory(_ path: String) throws(CacheError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open", path, errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError("fsync", path, errno) }
    }

    /// Writes all of `bytes`, retrying short writes and `EINTR`.
    /// - Returns: the error, or `nil` when everything was written.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) -> CacheError? {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                return ioError("write", path, code)
            }
            if n == 0 { return ioError("write", path, EIO) }
            offset += n
        }
        return nil
    }

    static func ioError(_ operation: String, _ path: String, _ code: Int32) -> CacheError {
        let io = BlobIOError(errno: code, operation: operation, path: path)
        return CacheError(.blobStore, "file blob store: \(io)", underlying: io)
    }
}
