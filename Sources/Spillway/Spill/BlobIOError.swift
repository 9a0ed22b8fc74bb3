#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The system error under a `.blobStore` ``CacheError``: which call failed, on which path, and
/// the `errno` it set.
public struct BlobIOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `errno` value.
    public var errno: Int32
    /// The failing operation (`open`, `write`, `fsync`, `rename`, ...).
    public var operation: String
    /// The path it was applied to.
    public var path: String

    /// Creates an error.
    public init(errno: Int32, operation: String, path: String) {
        self.errno = errno
        self.operation = operation
        self.path = path
    }

    /// The symbolic name of ``errno`` (`ENOSPC`, `EACCES`, ...), or `errno N` when unknown.
    public var errnoName: String { Self.name(of: errno) }

    public var description: String {
        "\(operation) \(path): \(errnoName) (\(String(cString: strerror(errno))))"
    }

    /// `ENOSPC`, "no space left on device" (28 on Linux and Darwin).
    public static let ENOSPC: Int32 = 28

    /// The symbolic name of an errno value.
    public static func name(of code: Int32) -> String {
        switch code {
        case ENOSPC: "ENOSPC"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EROFS: "EROFS"
        case EDQUOT: "EDQUOT"
        case EIO: "EIO"
        case ENOENT: "ENOENT"
        case ENOTDIR: "ENOTDIR"
        case EISDIR: "EISDIR"
        case EEXIST: "EEXIST"
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case EFBIG: "EFBIG"
        case ENAMETOOLONG: "ENAMETOOLONG"
        case EINTR: "EINTR"
        case EXDEV: "EXDEV"
        default: "errno \(code)"
        }
    }
}
