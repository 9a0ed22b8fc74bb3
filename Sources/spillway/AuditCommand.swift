import ArgumentParser
import Foundation
import NIOCore
import Spillway
import SpillwayPolicyFile
import SpillwayRedis

/// `spillway audit redis://… [--policies FILE] [--json] [--sample N]`: checks the keys already in
/// a live Redis against a policy file. Given `redis-cluster://host:port,…`, it audits every
/// master of the cluster into one report.
///
/// Walks the keyspace with `SCAN`, and for each batch pipelines `TYPE`, `STRLEN`, `MEMORY USAGE`
/// and `PTTL`. Reports every key that violates the policy of its prefix (or the defaults), the
/// prefixes using the most memory, keys that look like payloads, and the bytes hashing and
/// spilling would save. Exits 1 when any key violates its policy, so it can gate CI. Progress goes
/// to stderr.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit the keys of a live Redis against a policy file; exit 1 on violations.",
        discussion: "Uses SCAN, TYPE, STRLEN, MEMORY USAGE and PTTL. Keys get the policy of their longest matching prefix over the defaults (route overrides do not apply: a stored key does not say which route wrote it)."
    )

    @Argument(help: "The server: redis://[:password@]host[:port][/db] or rediss://…, or a cluster: redis-cluster://host:port,host:port (every master is audited). Default: $SPILLWAY_REDIS_URL, which keeps the password out of the process list.")
    var url: String?

    @Option(help: "The policy file (spillway.yml or spillway.json). Without it, Spillway's built-in defaults apply.")
    var policies: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Examine at most N keys (SCAN order), for a quick look at a large keyspace.")
    var sample: Int?

    @Option(name: .customLong("batch"), help: "Keys per SCAN batch (the COUNT hint, and the pipeline size).")
    var batchSize = 500

    @Flag(name: .customLong("no-progress"), help: "Do not print progress on stderr.")
    var noProgress = false

    /// The environment variable holding the server's URL, credentials included.
    static let urlVariable = "SPILLWAY_REDIS_URL"

    func validate() throws {
        if let sample, sample < 1 { throw ValidationError("--sample must be at least 1") }
        guard batchSize >= 1 && batchSize <= 10_000 else { throw ValidationError("--batch must be between 1 and 10000") }
    }

    func run() async throws {
        let table: PolicyTable
        if let policies {
            let result: PolicyCheckResult
            do {
                result = try PolicyFileLoader.check(path: policies)
            } catch {
                StandardError.write(error.description)
                throw ExitCode(2)
            }
            for d in result.diagnostics { StandardError.write(d.rendered(file: policies)) }
            guard let file = result.file else { throw ExitCode(2) }
            table = file.table
        } else {
            table = PolicyTable()
        }
        var progress: (@Sendable (String) -> Void)?
        if !noProgress {
            progress = { @Sendable line in StandardError.write(line) }
        }
        let environment = ProcessInfo.processInfo.environment
        guard let url = url ?? environment[Self.urlVariable] else {
            StandardError.write("spillway audit: give the server in \(Self.urlVariable) (or as an argument)")
            throw ExitCode(2)
        }
        if self.url != nil, (try? RedisConfiguration(url: url))?.password != nil || (try? RedisClusterConfiguration(url: url))?.node.password != nil {
            StandardError.write("spillway audit: warning: a password on the command line is visible to other users (ps); set \(Self.urlVariable) instead")
        }
        let report: AuditReport
        do {
            report = try await Self.audit(url: url, policies: table, sample: sample, batchSize: batchSize, progress: progress)
        } catch {
            StandardError.write("spillway audit: \(error)")
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text())
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// Scans the keyspace at `url` and audits every key (or the first `sample`) against `policies`.
    /// - Parameter progress: called with a progress line about every 10,000 keys.
    /// - Throws: ``CacheError`` when the server cannot be reached or answers unexpectedly.
    static func audit(
        url: String, policies: PolicyTable, sample: Int? = nil, batchSize: Int = 500,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws(CacheError) -> AuditReport {
        if url.hasPrefix("redis-cluster://") || url.hasPrefix("rediss-cluster://") {
            // A cluster: every master's keyspace, one after the other, into one report.
            let cluster = try RedisClusterClient(url: url)
            do {
                var clients: [RedisClient] = []
                for master in try await cluster.masters() { clients.append(try cluster.node(master)) }
                let report = try await scan(clients, policies: policies, sample: sample, batchSize: batchSize, progress: progress)
                await cluster.close()
                return report
            } catch {
                await cluster.close()
                throw error
            }
        }
        let client = try RedisClient(url: url)
        do {
            let report = try await scan([client], policies: policies, sample: sample, batchSize: batchSize, progress: progress)
            await client.close()
            return report
        } catch {
            await client.close()
            throw error
        }
    }

    /// Scans each client's whole keyspace (one server, or each master of a cluster).
    private static func scan(
        _ clients: [RedisClient], policies: PolicyTable, sample: Int?, batchSize: Int,
        progress: (@Sendable (String) -> Void)?
    ) async throws(CacheError) -> AuditReport {
        var total: Int? = 0
        for client in clients {
            let keys = try await client.send("DBSIZE").int64.map(Int.init)
            total = total.flatMap { sum in keys.map { sum + $0 } }
        }
        var auditor = KeyAuditor(policies: policies)
        var seen = 0
        var nextProgress = 10_000
        let limit = sample ?? Int.max
        for client in clients where seen < limit {
        var cursor = "0"
        repeat {
            let reply = try await client.send("SCAN", cursor, "COUNT", batchSize)
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let keys = parts[1].elements else {
                throw CacheError(.protocolError, "unexpected SCAN reply: \(reply)")
            }
            cursor = next
            var batch = keys.compactMap(\.bytes)
            if batch.count > limit - seen { batch = Array(batch.prefix(limit - seen)) }
            if !batch.isEmpty {
                for record in try await records(for: batch, client) { auditor.add(record) }
                seen += batch.count
            }
            if let progress, seen >= nextProgress {
                progress("audit: \(seen)\(total.map { " of \($0)" } ?? "") keys…")
                nextProgress += 10_000
            }
        } while cursor != "0" && seen < limit
        }
        progress?("audit: \(seen) keys examined")
        return auditor.report(keysInDatabase: total)
    }

    /// One pipelined round trip: TYPE, STRLEN, MEMORY USAGE and PTTL for each key. A key that
    /// expired or was deleted between SCAN and the pipeline (TYPE answers `none`) is skipped.
    private static func records(for keys: [ByteBuffer], _ client: RedisClient) async throws(CacheError) -> [AuditRecord] {
        var commands: [[any RESPArgument]] = []
        commands.reserveCapacity(keys.count * 4)
        for key in keys {
            commands.append(["TYPE", key])
            commands.append(["STRLEN", key])
            commands.append(["MEMORY", "USAGE", key])
            commands.append(["PTTL", key])
        }
        let replies = try await client.pipeline(commands)
        guard replies.count == commands.count else {
            throw CacheError(.protocolError, "expected \(commands.count) replies to the audit pipeline, got \(replies.count)")
        }
        var out: [AuditRecord] = []
        out.reserveCapacity(keys.count)
        for (i, key) in keys.enumerated() {
            let type = replies[4 * i].string
            if type == nil || type == "none" { continue }
            let isString = type == "string"
            let strlen = isString ? replies[4 * i + 1].int64.map(Int.init) : nil
            let memory = replies[4 * i + 2].int64.map(Int.init)
            let pttl = replies[4 * i + 3].int64 ?? -1
            if pttl == -2 { continue }
            out.append(
                AuditRecord(
                    key: Array(key.readableBytesView), type: type, valueBytes: strlen, memoryBytes: memory,
                    ttl: pttl >= 0 ? .milliseconds(pttl) : nil
                ))
        }
        return out
    }
}
