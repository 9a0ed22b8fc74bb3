internal import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The file system side of the store: atomic writes, reads, listings and typed I/O errors.
//
// Nothing here follows a symbolic link inside the store: directories are opened with
// `O_DIRECTORY | O_NOFOLLOW` and every file inside them is reached relative to that descriptor
// (`openat`, `renameat`, `unlinkat`, `fstatat`) with `O_NOFOLLOW` / `AT_SYMLINK_NOFOLLOW`. A
// symlink where a shard directory or a blob should be is refused (`ELOOP`, `ENOTDIR`), never
// followed.
extension FileBlobStore {
    func shardPath(_ shard: Int) -> String {
        let hex = "0123456789abcdef".utf8
        let hi = hex[hex.index(hex.startIndex, offsetBy: shard >> 4)]
        let lo = hex[hex.index(hex.startIndex, offsetBy: shard & 15)]
        return root + "/" + String(decoding: [hi, lo], as: UTF8.self)
    }

    /// The file name of a blob inside its shard directory.
    static func fileName(of id: BlobID) -> String { id.description + ".blob" }

    func putSync(_ content: ByteBuffer, metadata: BlobMetadata) throws(CacheError) -> BlobID {
        let id = BlobID.random()
        let header = Self.header(content.readableBytes, metadata)
        let tmpDirectory = root + "/tmp"
        guard let tmp = try Self.openDirectory(tmpDirectory) else { throw Self.ioError("open", tmpDirectory, ENOENT) }
        defer { close(tmp) }
        let tmpName = id.description + ".tmp"
        let temporary = tmpDirectory + "/" + tmpName
        let fd = openat(tmp, tmpName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.ioError("open", temporary, errno) }
        do throws(CacheError) {
            var failure = header.withUnsafeBytes { Self.writeAll(fd, $0, temporary) }
            if failure == nil { failure = content.withUnsafeReadableBytes { Self.writeAll(fd, $0, temporary) } }
            if let failure { throw failure }
            guard fsync(fd) == 0 else { throw Self.ioError("fsync", temporary, errno) }
            guard close(fd) == 0 else {
                let code = errno
                unlinkat(tmp, tmpName, 0)
                throw Self.ioError("close", temporary, code)
            }
        } catch {
            close(fd)
            unlinkat(tmp, tmpName, 0)
            throw error
        }
        let shardDirectory = shardPath(Int(id.high >> 56))
        let final = path(of: id)
        do throws(CacheError) {
            var shard = try Self.openDirectory(shardDirectory)
            if shard == nil {
                try Self.makeDirectory(shardDirectory)
                shard = try Self.openDirectory(shardDirectory)
            }
            guard let shard else { throw Self.ioError("open", shardDirectory, ENOENT) }
            defer { close(shard) }
            guard renameat(tmp, tmpName, shard, Self.fileName(of: id)) == 0 else { throw Self.ioError("rename", final, errno) }
            if syncDirectories {
                guard fsync(shard) == 0 else { throw Self.ioError("fsync", shardDirectory, errno) }
            }
        } catch {
            unlinkat(tmp, tmpName, 0)
            throw error
        }
        return id
    }

    func getSync(_ id: BlobID) throws(CacheError) -> ByteBuffer? {
        let path = self.path(of: id)
        guard let fd = try openBlob(id, O_RDONLY) else { return nil }
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

    /// Opens a blob file relative to its shard directory, following no symlink: `nil` when it
    /// (or its shard) does not exist. A symlink in its place is `.corruption` (someone tampered
    /// with the store; the blob is treated as damaged, never read through the link); any other
    /// failure is a `.blobStore` error.
    func openBlob(_ id: BlobID, _ flags: Int32) throws(CacheError) -> Int32? {
        guard let shard = try Self.openDirectory(shardPath(Int(id.high >> 56))) else { return nil }
        defer { close(shard) }
        let fd = openat(shard, Self.fileName(of: id), flags | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP { throw CacheError(.corruption, "blob file \(path(of: id)) is a symbolic link; not followed", underlying: BlobIOError(errno: code, operation: "open", path: path(of: id))) }
            throw Self.ioError("open", path(of: id), code)
        }
        return fd
    }

    /// Opens a directory of the store without following a symlink in its place: `nil` when it
    /// does not exist; `ELOOP` or `ENOTDIR` (a `.blobStore` error) when a link or a file is there.
    static func openDirectory(_ path: String) throws(CacheError) -> Int32? {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw ioError("open", path, code)
        }
        return fd
    }

    /// Reads the header of a blob file, or `nil` when the file is gone.
    func readInfo(_ id: BlobID) throws(CacheError) -> BlobInfo? {
        let fd: Int32
        do throws(CacheError) {
            guard let opened = try openBlob(id, O_RDONLY) else { return nil }
            fd = opened
        } catch  where error.code == .corruption {
            // A symlink where the blob should be: report it with no metadata worth keeping it
            // for, so the sweeper removes the link (unlinking never follows it).
            return BlobInfo(id: id, length: 0, metadata: BlobMetadata(createdAt: BlobTimestamp(millisecondsSince1970: 0), expiresAt: BlobTimestamp(millisecondsSince1970: 0)))
        }
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

    func listShard(_ shard: Int) throws(CacheError) -> [BlobID] {
        let names = try Self.listDirectory(shardPath(shard)) ?? []
        return names.compactMap { name in
            guard name.hasSuffix(".blob") else { return nil }
            return BlobID(hex: name.dropLast(5))
        }
    }

    /// The names in a directory of the store (not following a symlink in its place), or `nil`
    /// when it does not exist.
    static func listDirectory(_ path: String) throws(CacheError) -> [String]? {
        guard let fd = try openDirectory(path) else { return nil }
        guard let dir = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw ioError("opendir", path, code)
        }
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

    /// Runs `body` on each entry of a directory of the store, with the directory's descriptor
    /// (for `fstatat`/`unlinkat`, which never follow a link).
    static func forEachEntry(in path: String, _ body: (Int32, String) throws(CacheError) -> Void) throws(CacheError) {
        guard let names = try listDirectory(path), !names.isEmpty, let fd = try openDirectory(path) else { return }
        defer { close(fd) }
        for name in names { try body(fd, name) }
    }

    /// Makes a directory of the store (mode 0700). One that exists must be a real directory, not
    /// a symlink to one.
    static func makeDirectory(_ path: String) throws(CacheError) {
        if mkdir(path, 0o700) == 0 { return }
        let code = errno
        guard code == EEXIST else { throw ioError("mkdir", path, code) }
        var st = stat()
        guard lstat(path, &st) == 0, Int(st.st_mode) & Int(S_IFMT) == Int(S_IFDIR) else { throw ioError("mkdir", path, ENOTDIR) }
    }

    /// Refuses a directory that another user could write to: group- or world-writable, or owned
    /// by a user other than this process's effective user.
    static func checkOwnership(_ path: String) throws(CacheError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ioError("stat", path, errno) }
        let mode = Int(st.st_mode) & 0o7777
        let owner = Int(st.st_uid)
        let me = Int(geteuid())
        var reasons: [BlobStoreRootError.Reason] = []
        if owner != me { reasons.append(.ownedByAnotherUser) }
        if mode & 0o020 != 0 { reasons.append(.groupWritable) }
        if mode & 0o002 != 0 { reasons.append(.worldWritable) }
        guard reasons.isEmpty else {
            let problem = BlobStoreRootError(path: path, reasons: reasons, mode: mode, owner: owner, expectedOwner: me)
            throw CacheError(.invalidArgument, "file blob store: \(problem)", underlying: problem)
        }
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
