import Logging
import Synchronization

/// A log handler that keeps every message, so tests can assert what was logged (and how often)
/// without bootstrapping the global logging system.
final class LogCapture: Sendable {
    private let lines = Mutex<[(level: Logger.Level, message: String)]>([])

    var messages: [String] { lines.withLock { $0.map(\.message) } }

    /// Every message with its level, in order.
    var records: [(level: Logger.Level, message: String)] { lines.withLock { $0 } }

    func append(_ level: Logger.Level, _ message: String) { lines.withLock { $0.append((level, message)) } }

    func logger() -> Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(event.level, "\(event.message)")
        }
    }
}
