import ArgumentParser
import Foundation
import Testing
import NIOCore
import Spillway
import SpillwayPolicyFile
import SpillwayRedis
import SpillwayTesting
@testable import spillway

@Suite("spillway audit against a real redis-server")
struct AuditRedisTests {
    @Test("plants a 10 KB key, a 5 MB value and a key without TTL; the report names each and the exit code is 1")
    func plantedOffenders() async throws {
        try await RedisServer.withRedisServer(RedisServer.Options(maxMemory: 64 << 20)) { server in
            let longKey = "cache:" + String(repeating: "q", count: 10 * 1024)
            try await Self.plant(
                server,
                [
                    [longKey, "v", "PX", 600_000],
                    ["blob:big", ByteBuffer(repeating: 0x61, count: 5 * 1024 * 1024), "PX", 600_000],
                    ["session:forever", "x"],
                    ["user:1", "ok", "PX", 60_000],
                ])

            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-audit-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let policyPath = dir.appendingPathComponent("spillway.yml").path
            try Data(
                """
                defaults:
                  maxKeyBytes: 256
                  maxValueBytes: 1MiB
                  spillAbove: 64KiB
                prefixes:
                  "session:": {requireTTL: true}
                """.utf8
            ).write(to: URL(fileURLWithPath: policyPath))
            let table = try PolicyFileLoader.load(path: policyPath).table

            let report = try await AuditCommand.audit(url: server.url, policies: table)
            #expect(report.keysScanned == 4)
            #expect(report.keysInDatabase == 4)
            #expect(report.violationCounts == ["keyTooLong": 1, "valueTooLarge": 1, "missingTTL": 1])
            #expect(report.exitCode == 1)
            let byKind = Dictionary(grouping: report.violations, by: \.kind)
            #expect(byKind[.keyTooLong]?.first?.keyBytes == longKey.utf8.count)
            #expect(byKind[.valueTooLarge]?.first?.key == "blob:big")
            #expect(byKind[.valueTooLarge]?.first?.detail.contains("5242880 bytes") == true)
            #expect(byKind[.missingTTL]?.first?.key == "session:forever")
            #expect(byKind[.missingTTL]?.first?.policy == "prefix 'session:'")
            #expect(report.topPrefixes.first?.prefix == "blob:")
            #expect(report.payloadKeys.map(\.keyBytes) == [longKey.utf8.count])
            #expect(report.bytesSavedBySpilling == 5 * 1024 * 1024 - KeyAuditor.spillPointerBytes)
            #expect(report.bytesSavedByHashing > 10 * 1024 - 256)

            // The command itself exits 1 on these violations (and prints the report).
            let command = try AuditCommand.parse([server.url, "--policies", policyPath, "--json", "--no-progress"])
            await #expect(throws: ExitCode(1)) { try await command.run() }

            // --sample limits the keys examined.
            let sampled = try await AuditCommand.audit(url: server.url, policies: table, sample: 2, batchSize: 1)
            #expect(sampled.keysScanned == 2)
        }
    }

    @Test("a keyspace that follows its policies exits 0")
    func clean() async throws {
        try await RedisServer.withRedisServer { server in
            try await Self.plant(server, [["user:1", "ok", "PX", 60_000]])
            let report = try await AuditCommand.audit(url: server.url, policies: PolicyTable())
            #expect(report.keysScanned == 1)
            #expect(report.exitCode == 0)
            let command = try AuditCommand.parse([server.url, "--no-progress"])
            try await command.run()
        }
    }

    @Test("the server and its password come from SPILLWAY_REDIS_URL, not the command line")
    func urlFromEnvironment() async throws {
        try await RedisServer.withRedisServer(RedisServer.Options(password: "env-s3cret")) { server in
            try await Self.plant(server, [["user:1", "ok", "PX", 60_000]])
            let command = try AuditCommand.parse(["--no-progress"])
            #expect(command.url == nil, "no URL, so no password, in the arguments")
            setenv(AuditCommand.urlVariable, server.url, 1)
            defer { unsetenv(AuditCommand.urlVariable) }
            #expect(server.url.contains("env-s3cret"))
            try await command.run()
        }
    }

    /// Runs `SET` with each argument list, then closes the client (also on failure).
    static func plant(_ server: RedisServer, _ sets: [[any RESPArgument]]) async throws {
        let client = try server.makeClient()
        do {
            for arguments in sets { _ = try await client.send("SET", arguments: arguments) }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}
