import Foundation
import NIOCore
import NIOSSL
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// `rediss://` against a real TLS `redis-server`, with certificates made for the test.
@Suite("Redis over TLS")
struct RedisTLSTests {
    /// Runs `openssl` with the arguments, failing loudly if it fails.
    static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl \(arguments.first ?? "") failed")
    }

    /// A CA and a server certificate for localhost / 127.0.0.1 signed by it.
    static func makeCertificates(in dir: String) throws -> RedisServer.Options.TLSFiles {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.crt", "-days", "1", "-subj", "/CN=Spillway Test CA"])
        try openssl(["req"] + ec + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: "\(dir)/san.ext", atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key", "-CAcreateserial",
            "-out", "\(dir)/server.crt", "-days", "1", "-extfile", "\(dir)/san.ext",
        ])
        return .init(certificate: "\(dir)/server.crt", key: "\(dir)/server.key", caCertificate: "\(dir)/ca.crt")
    }

    @Test("rediss:// works with the server's CA trusted, and is refused without it")
    func tls() async throws {
        let dir = NSTemporaryDirectory() + "spillway-tls-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try Self.makeCertificates(in: dir)
        try await RedisServer.withRedisServer(RedisServer.Options(tls: files)) { server in
            #expect(server.url.hasPrefix("rediss://"))
            var configuration = try RedisConfiguration(url: server.url)
            configuration.tls?.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(files.caCertificate))
            configuration.tlsServerName = "localhost"
            let client = try RedisClient(configuration: configuration)
            _ = try await client.execute(.set("tls:k", ByteBuffer(string: "secret"), SetOptions()))
            guard case .value(let value) = try await client.execute(.get("tls:k")) else { Issue.record("get"); return }
            #expect(value == ByteBuffer(string: "secret"))
            await client.close()

            var untrusted = try RedisConfiguration(url: server.url)
            untrusted.connectTimeout = .milliseconds(500)
            let refused = try RedisClient(configuration: untrusted)
            do {
                _ = try await refused.send("PING")
                Issue.record("an unknown CA must be refused")
            } catch let error as CacheError {
                #expect(error.code == .connection)
            }
            await refused.close()

            // The CA named in the URL, instead of code.
            var named = try RedisConfiguration(url: server.url + "?ca_file=\(files.caCertificate)")
            named.tlsServerName = "localhost"
            let viaURL = try RedisClient(configuration: named)
            #expect(try await viaURL.send("PING") == .simpleString(ByteBuffer(string: "PONG")))
            await viaURL.close()
        }
    }
}
