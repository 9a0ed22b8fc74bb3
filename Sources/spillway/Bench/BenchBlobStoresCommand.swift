import ArgumentParser
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting

/// `spillway bench blobstores`: one put and one get of the same blob (1 MiB by default) through
/// each shared store, against the reference doing the same bytes on the same server in the same
/// run: `PostgresBlobStore` against a bare postgres-nio `INSERT` and `SELECT`, `S3BlobStore`
/// against boto3 (`put_object`, `get_object().read()`) on the same moto server, and
/// `FileBlobStore` beside them. Rounds alternate the contenders; each rate is the median
/// round's, each ratio the median of the rounds' ratios. Blobs are deleted between rounds,
/// outside the timed loops.
struct BenchBlobStoresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blobstores",
        abstract: "PostgresBlobStore vs bare postgres-nio, S3BlobStore vs boto3 on moto, FileBlobStore: put + get of one blob, as ratios."
    )

    @Option(help: "Blob size in bytes.") var size = 1 << 20
    @Option(help: "Put + get pairs per contender per round.") var iterations = 30
    @Option(help: "Rounds (contenders alternate within each).") var rounds = 5
    @Option(help: "The package's directory, whose .build/venv holds moto and boto3 (or set SPILLWAY_VENV).") var packageRoot = FileManager.default.currentDirectoryPath
    @Option(help: "Measure only these, comma-separated: postgres, s3, file.") var only = "postgres,s3,file"
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard size > 0, iterations > 0, rounds > 0 else { throw ValidationError("--size, --iterations and --rounds must be positive") }
    }

    func run() async throws {
        let parts = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        var payload = ByteBuffer()
        payload.reserveCapacity(size)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(size / 8) { payload.writeInteger(generator.next() as UInt64) }
        while payload.readableBytes < size { payload.writeInteger(UInt8.random(in: 0 ... .max)) }

        var results = BenchBlobResults(size: size, iterations: iterations, rounds: rounds)
        if parts.contains("postgres") {
            let server = try await PostgresServer.start()
            defer { server.stop() }
            results.postgres = try await Self.postgres(server, payload: payload, iterations: iterations, rounds: rounds)
        }
        if parts.contains("s3") {
            let moto = try await MotoServer.start(packageRoot: packageRoot)
            defer { moto.stop() }
            results.s3 = try await Self.s3(moto, payload: payload, iterations: iterations, rounds: rounds)
        }
        if parts.contains("file") {
            results.file = try await Self.file(payload: payload, iterations: iterations, rounds: rounds)
        }
        print(json ? results.json : results.text)
    }

    // MARK: Postgres

    static func postgres(_ server: PostgresServer, payload: ByteBuffer, iterations: Int, rounds: Int) async throws -> BenchBlobResults.Pair {
        let store = try PostgresBlobStore(
            configuration: .init(host: server.host, port: server.port, username: server.username, password: server.password, database: server.database, table: "bench_store"))
        var configuration = PostgresClient.Configuration(
            host: server.host, port: server.port, username: server.username, password: server.password, database: server.database, tls: .disable)
        configuration.options.maximumConnections = 8
        let bare = PostgresClient(configuration: configuration)
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await bare.run() }
            defer { group.cancelAll() }
            return try await store.withRunning {
                try await store.prepare()
                _ = try await bare.query(
                    PostgresQuery(unsafeSQL: "CREATE TABLE bench_bare (id bytea PRIMARY KEY, content bytea NOT NULL)", binds: PostgresBindings()), logger: logger
                ).collect()
                let metadata = BlobMetadata(createdAt: BlobClock.wallNow())
                var pair = BenchBlobResults.Pair(ours: "PostgresBlobStore put + get", reference: "postgres-nio INSERT + SELECT")
                for _ in 0..<rounds {
                    // Ours.
                    let ours = try await Self.putGetRound(store, payload: payload, metadata: metadata, iterations: iterations)
                    // The reference: the same bytes, one INSERT and one SELECT.
                    let reference = try await Self.timed(iterations) {
                        var binds = PostgresBindings(capacity: 2)
                        var id = ByteBuffer()
                        id.writeInteger(UInt64.random(in: 0 ... .max))
                        id.writeInteger(UInt64.random(in: 0 ... .max))
                        binds.append(id)
                        binds.append(payload)
                        _ = try await bare.query(PostgresQuery(unsafeSQL: "INSERT INTO bench_bare (id, content) VALUES ($1, $2)", binds: binds), logger: logger).collect()
                        var key = PostgresBindings(capacity: 1)
                        key.append(id)
                        let rows = try await bare.query(PostgresQuery(unsafeSQL: "SELECT content FROM bench_bare WHERE id = $1", binds: key), logger: logger).collect()
                        guard let back = try rows.first?.decode(ByteBuffer.self), back.readableBytes == payload.readableBytes else {
                            throw CacheError(.other, "SELECT returned a different blob")
                        }
                    }
                    _ = try await bare.query(PostgresQuery(unsafeSQL: "TRUNCATE bench_bare", binds: PostgresBindings()), logger: logger).collect()
                    pair.add(ours: ours, reference: reference)
                }
                return pair
            }
        }
    }

    // MARK: S3

    static func s3(_ moto: MotoServer, payload: ByteBuffer, iterations: Int, rounds: Int) async throws -> BenchBlobResults.Pair {
        let store = try S3BlobStore(
            configuration: .init(
                bucket: moto.bucket, endpoint: moto.endpoint, region: moto.region, prefix: "bench-", accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey))
        let boto = try Boto3Runner(moto: moto, size: payload.readableBytes)
        defer { boto.close() }
        let metadata = BlobMetadata(createdAt: BlobClock.wallNow())
        var pair = BenchBlobResults.Pair(ours: "S3BlobStore put + get", reference: "boto3 put_object + get_object")
        for _ in 0..<rounds {
            let ours = try await Self.putGetRound(store, payload: payload, metadata: metadata, iterations: iterations)
            let reference = try boto.run(iterations)
            pair.add(ours: ours, reference: reference)
        }
        return pair
    }

    // MARK: File

    static func file(payload: ByteBuffer, iterations: Int, rounds: Int) async throws -> BenchBlobResults.Single {
        let store = try FileBlobStore.temporary(name: "bench")
        defer { try? store.removeAll() }
        let metadata = BlobMetadata(createdAt: BlobClock.wallNow())
        var single = BenchBlobResults.Single(name: "FileBlobStore put + get")
        for _ in 0..<rounds {
            let seconds = try await Self.putGetRound(store, payload: payload, metadata: metadata, iterations: iterations)
            single.rounds.append(Double(iterations) / seconds)
        }
        return single
    }

    /// Seconds taken by `iterations` puts of `payload` into `store`, each read back and checked;
    /// the blobs are deleted afterwards, untimed.
    static func putGetRound(_ store: some BlobStore, payload: ByteBuffer, metadata: BlobMetadata, iterations: Int) async throws -> Double {
        var ids: [BlobID] = []
        let seconds = try await timed(iterations) {
            let id = try await store.put(payload, metadata: metadata)
            guard let back = try await store.get(id), back.readableBytes == payload.readableBytes else { throw CacheError(.other, "get returned a different blob") }
            ids.append(id)
        }
        for id in ids { try await store.delete(id) }
        return seconds
    }

    /// Seconds taken by `n` runs of `body`.
    static func timed(_ n: Int, _ body: () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<n { try await body() }
        let (s, a) = start.duration(to: clock.now).components
        return Double(s) + Double(a) / 1e18
    }
}

/// boto3 in one long-lived Python process (client made once, as our store is): each `run(n)`
/// does `n` × (`put_object` of the blob, `get_object` and `read()`), deletes them untimed, and
/// answers with the seconds the puts and gets took.
final class Boto3Runner {
    let process = Process()
    let input = Pipe()
    let output = Pipe()

    init(moto: MotoServer, size: Int) throws {
        let script = """
            import boto3, os, sys, time, uuid
            endpoint, key, secret, bucket, size = sys.argv[1:6]
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
            body = os.urandom(int(size))
            for line in sys.stdin:
                n = int(line)
                names = ["boto-" + uuid.uuid4().hex for _ in range(n)]
                start = time.perf_counter()
                for name in names:
                    s3.put_object(Bucket=bucket, Key=name, Body=body)
                    got = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
                    assert len(got) == len(body)
                elapsed = time.perf_counter() - start
                for name in names:
                    s3.delete_object(Bucket=bucket, Key=name)
                print(elapsed, flush=True)
            """
        process.executableURL = URL(fileURLWithPath: moto.venv + "/bin/python")
        process.arguments = ["-c", script, moto.endpoint, moto.accessKeyID, moto.secretAccessKey, moto.bucket, String(size)]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Runs `n` put + get pairs; returns their seconds.
    func run(_ n: Int) throws -> Double {
        input.fileHandleForWriting.write(Data("\(n)\n".utf8))
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            guard let b = byte.first else { throw CacheError(.other, "boto3 runner exited") }
            if b == UInt8(ascii: "\n") { break }
            line.append(b)
        }
        guard let seconds = Double(String(decoding: line, as: UTF8.self)) else { throw CacheError(.other, "boto3 runner said: \(String(decoding: line, as: UTF8.self))") }
        return seconds
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// The figures of `spillway bench blobstores`.
struct BenchBlobResults {
    /// Ours against a reference, per round (put + get pairs per second).
    struct Pair {
        var ours: String
        var reference: String
        var oursRates: [Double] = []
        var referenceRates: [Double] = []
        var ratios: [Double] = []

        mutating func add(ours: Double, reference: Double) {
            // Seconds for the same number of pairs: the ratio of rates is the inverse.
            oursRates.append(1 / ours)
            referenceRates.append(1 / reference)
            ratios.append(reference / ours)
        }

        func line(_ iterations: Int) -> String {
            let o = median(oursRates) * Double(iterations)
            let r = median(referenceRates) * Double(iterations)
            let each = ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            return "\(ours): \(String(format: "%.1f", o)) pairs/s; \(reference): \(String(format: "%.1f", r)) pairs/s; ratio \(String(format: "%.2f", median(ratios))) (rounds: \(each))"
        }
    }

    /// One store alone.
    struct Single {
        var name: String
        var rounds: [Double] = []
    }

    var size: Int
    var iterations: Int
    var rounds: Int
    var postgres: Pair?
    var s3: Pair?
    var file: Single?

    var text: String {
        var lines = ["spillway bench blobstores: \(size) bytes, \(iterations) put + get pairs per contender per round, \(rounds) rounds"]
        if let postgres { lines.append(postgres.line(iterations) + " (target ≥ 0.8)") }
        if let s3 { lines.append(s3.line(iterations) + " (target ≥ 1.0)") }
        if let file { lines.append("\(file.name): \(String(format: "%.1f", median(file.rounds))) pairs/s") }
        return lines.joined(separator: "\n")
    }

    var json: String {
        func pair(_ p: Pair?) -> String {
            guard let p else { return "null" }
            return String(format: #"{"ours_pairs_per_s": %.2f, "reference_pairs_per_s": %.2f, "ratio": %.3f}"#, median(p.oursRates) * Double(iterations), median(p.referenceRates) * Double(iterations), median(p.ratios))
        }
        let file = self.file.map { String(format: "%.2f", median($0.rounds)) } ?? "null"
        return #"{"size": \#(size), "iterations": \#(iterations), "rounds": \#(rounds), "postgres": \#(pair(postgres)), "s3": \#(pair(s3)), "file_pairs_per_s": \#(file)}"#
    }
}

/// The median of `values` (0 for none).
private func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
