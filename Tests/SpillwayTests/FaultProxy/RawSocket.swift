#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking loopback TCP socket, to see exactly how a connection ended: an RST
/// (`ECONNRESET`) or a FIN (end of file). Reads time out after 5 s so a test never hangs.
final class RawSocket {
    enum Ending: Equatable {
        case reset
        case endOfFile
        case data(Int)
        case other(Int32)
    }

    let fd: Int32

    init?(port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends bytes; returns whether all were sent.
    func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == text.utf8.count
    }

    /// Reads once and says what came.
    func receive() -> Ending {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return .data(n) }
        if n == 0 { return .endOfFile }
        return errno == ECONNRESET ? .reset : .other(errno)
    }

    /// Reads until the connection ends; returns the bytes seen and how it ended.
    func drain() -> (bytes: Int, ending: Ending) {
        var total = 0
        while true {
            switch receive() {
            case .data(let n): total += n
            case let ending: return (total, ending)
            }
        }
    }
}
