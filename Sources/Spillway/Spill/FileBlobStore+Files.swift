internal import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The file system side of the store: atomic writes, reads, listings and typed I/O errors.
extension FileBlobStore {
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
