import Foundation

/// Runs a tool to its end without blocking a thread of the cooperative pool.
///
/// `Process.waitUntilExit()` and `readDataToEndOfFile()` block the calling thread. On a 2-core
/// machine the test runner's pool has two threads, so one test waiting on a child process that
/// way halves the speed of every other test, and two stall them all. This waits on the
/// process's termination handler instead, with standard output and standard error in temporary
/// files (no pipe to fill up and deadlock on).
public enum ChildProcess {
    /// What a finished child process left behind.
    public struct Result: Sendable {
        /// Its exit status (or the signal that ended it).
        public var status: Int32
        /// Everything it wrote to standard output.
        public var output: String
        /// Everything it wrote to standard error (empty when `mergeStandardError` was set).
        public var error: String
    }

    /// Runs `executable` with `arguments` until it exits.
    /// - Parameters:
    ///   - environment: variables set on top of this process's environment.
    ///   - mergeStandardError: writes standard error into ``Result/output`` too, interleaved.
    /// - Throws: ``RedisServerError`` when the executable cannot be started.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], mergeStandardError: Bool = false
    ) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory
        let stem = "spillway-child-\(UUID().uuidString)"
        let outURL = directory.appendingPathComponent("\(stem).out")
        let errURL = directory.appendingPathComponent("\(stem).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            process.environment = env
        }
        process.standardOutput = out
        process.standardError = mergeStandardError ? out : err
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: RedisServerError(message: "cannot run \(executable): \(error)", log: ""))
            }
        }
        // Decoded leniently: a tool's stray invalid UTF-8 must not hide the rest of its output.
        let output = String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self)
        let error = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
        return Result(status: status, output: output, error: error)
    }
}
