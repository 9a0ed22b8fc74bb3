public import NIOCore
public import Spillway

extension CacheError {
    /// Classifies a Redis error reply by its leading code word: `OOM` → `.outOfMemory`,
    /// `LOADING`, `BUSY` and Redis Cluster's `TRYAGAIN`, `CLUSTERDOWN` and `MASTERDOWN` → `.busy`,
    /// `CROSSSLOT` (keys of several slots in one command) → `.invalidArgument`, `EXECABORT` → `.execAbort`, `NOSCRIPT` → `.noScript`,
    /// a string above `proto-max-bulk-len` → `.tooLarge`; anything else → `.other`. The full
    /// text is kept as the message.
    public static func redisReply(_ message: String) -> CacheError {
        let word = message.prefix { $0 != " " }
        let code: Code
        switch word {
        case "OOM": code = .outOfMemory
        case "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN": code = .busy
        case "CROSSSLOT": code = .invalidArgument
        case "EXECABORT": code = .execAbort
        case "NOSCRIPT": code = .noScript
        default:
            if message.hasPrefix("ERR string exceeds maximum allowed size") {
                code = .tooLarge
            } else if message.hasPrefix("ERR Error running script"), message.contains("OOM command not allowed") {
                code = .outOfMemory
            } else {
                code = .other
            }
        }
        return CacheError(code, message)
    }

    /// Classifies a Redis error reply given as bytes. See ``redisReply(_:)-(String)``.
    public static func redisReply(_ bytes: ByteBuffer) -> CacheError {
        redisReply(String(decoding: bytes.readableBytesView, as: UTF8.self))
    }
}
