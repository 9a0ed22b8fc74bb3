/// Why ``FileBlobStore`` refused a directory as its root (the `underlying` error of an
/// `.invalidArgument` ``CacheError``): another user could write to it, and so plant a symlink or
/// replace a blob.
public struct BlobStoreRootError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One reason the directory is refused.
    public enum Reason: String, Sendable, Hashable {
        /// The group may write to it (mode `g+w`).
        case groupWritable
        /// Everybody may write to it (mode `o+w`).
        case worldWritable
        /// It belongs to another user than the process's effective user.
        case ownedByAnotherUser
    }

    /// The directory.
    public var path: String
    /// Every reason that applies.
    public var reasons: [Reason]
    /// Its permission bits.
    public var mode: Int
    /// Its owner's uid.
    public var owner: Int
    /// The process's effective uid.
    public var expectedOwner: Int

    /// Creates an error.
    public init(path: String, reasons: [Reason], mode: Int, owner: Int, expectedOwner: Int) {
        self.path = path
        self.reasons = reasons
        self.mode = mode
        self.owner = owner
        self.expectedOwner = expectedOwner
    }

    public var description: String {
        "refusing \(path) as a blob root (\(reasons.map(\.rawValue).joined(separator: ", "))): mode \(String(mode, radix: 8)), owner uid \(owner); it must belong to uid \(expectedOwner) and not be group- or world-writable"
    }
}
