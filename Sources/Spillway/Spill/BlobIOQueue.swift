internal import Dispatch

/// Where ``FileBlobStore`` does its blocking file I/O: a concurrent dispatch queue whose threads
/// are not the caller's (not an event loop, not Swift's cooperative pool). An `fsync` that takes
/// milliseconds blocks one of these threads while the caller's thread goes on serving others.
///
/// Dispatch (part of the Swift toolchain) is used rather than NIO's `NIOThreadPool`, which lives
/// in NIOPosix: the core, and so the build plugin's tool, must not depend on NIOPosix
/// (scripts/check-plugin-deps.sh).
public enum BlobIOQueue {
    static let queue = DispatchQueue(label: "spillway.blob-io", qos: .utility, attributes: .concurrent)

    /// Runs `body` on the queue and returns (or throws) its result to the waiting task.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws(CacheError) -> T) async throws(CacheError) -> T {
        let result: Result<T, CacheError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(CacheError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
