import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real S3-compatible server for tests: `moto_server` from the shared Python environment
/// (`scripts/python-env.sh`, `moto[server]` in `scripts/requirements-test.txt`), on 127.0.0.1 and
/// a free port, **with authentication enforced**: the launcher creates an IAM user allowed
/// `s3:*`, its access key and a bucket, then switches moto's authentication on
/// (`/moto-api/reset-auth` with 0 free actions), so a request with a wrong signature or an
/// unknown key gets 403 from then on. Stopped by ``stop()``.
///
/// The environment is found through `SPILLWAY_VENV`, else `<package root>/.build/venv`; when it
/// is missing, ``start(packageRoot:)`` throws a ``MotoServerError`` naming
/// `scripts/python-env.sh` (the suite fails, it never skips).
public final class MotoServer: Sendable {
    /// The host it listens on.
    public let host = "127.0.0.1"
    /// The port it listens on.
    public let port: Int
    /// The bucket created at start.
    public let bucket = "spillway-test"
    /// The region the bucket was created in.
    public let region = "us-east-1"
    /// The access key id of the IAM user allowed `s3:*`.
    public let accessKeyID: String
    /// Its secret access key.
    public let secretAccessKey: String
    /// The virtual environment's directory.
    public let venv: String
    let process: Process
    let logPath: String

    /// `http://127.0.0.1:port`.
    public var endpoint: String { "http://\(host):\(port)" }

    private init(port: Int, accessKeyID: String, secretAccessKey: String, venv: String, process: Process, logPath: String) {
        self.port = port
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.venv = venv
        self.process = process
        self.logPath = logPath
    }

    /// The virtual environment: `SPILLWAY_VENV`, else `<packageRoot>/.build/venv`.
    public static func venvDirectory(packageRoot: String) -> String {
        if let venv = ProcessInfo.processInfo.environment["SPILLWAY_VENV"], !venv.isEmpty { return venv }
        return packageRoot + "/.build/venv"
    }

    /// Starts a server, sets up its user, key and bucket, and turns authentication on.
    /// - Parameter packageRoot: the Spillway package's directory (where `.build/venv` lives).
    /// - Throws: ``MotoServerError`` when the environment is missing or the server cannot start.
    public static func start(packageRoot: String) async throws -> MotoServer {
        let venv = venvDirectory(packageRoot: packageRoot)
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: venv + "/bin/moto_server") else {
            throw MotoServerError(
                message: "moto_server not found in the Python environment \(venv): run scripts/python-env.sh (it installs scripts/requirements-test.txt), or set SPILLWAY_VENV",
                log: "")
        }
        let port = try PostgresServer.freePort()
        let logPath = NSTemporaryDirectory() + "/spillway-moto-\(port).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: venv + "/bin/moto_server")
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw MotoServerError(message: "cannot run moto_server: \(error)", log: "")
        }
        func fail(_ message: String) -> MotoServerError {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return MotoServerError(message: message, log: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
        }
        // Set up with boto3 (authentication is still off), then turn it on.
        let script = """
            import boto3, json, sys, time, urllib.request
            endpoint = sys.argv[1]
            for attempt in range(300):
                try:
                    urllib.request.urlopen(endpoint + "/moto-api/", timeout=1); break
                except Exception:
                    time.sleep(0.05)
            else:
                sys.exit("moto_server did not answer within 15 s")
            kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
            iam = boto3.client("iam", **kw)
            iam.create_user(UserName="spillway")
            iam.put_user_policy(UserName="spillway", PolicyName="s3", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="spillway")["AccessKey"]
            boto3.client("s3", **kw).create_bucket(Bucket="spillway-test")
            urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}))
            print(key["AccessKeyId"] + " " + key["SecretAccessKey"])
            """
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: python)
        setup.arguments = ["-c", script, "http://127.0.0.1:\(port)"]
        let output = Pipe()
        setup.standardOutput = output
        setup.standardError = output
        do {
            try setup.run()
        } catch {
            throw fail("cannot run \(python): \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        setup.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard setup.terminationStatus == 0, words.count == 2 else {
            throw fail("moto set-up failed (exit \(setup.terminationStatus)): \(text)")
        }
        return MotoServer(port: port, accessKeyID: words[0], secretAccessKey: words[1], venv: venv, process: process, logPath: logPath)
    }

    /// Stops the server (SIGKILL) and waits for it to exit.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// The server's output so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// moto could not be found, started or set up, with its output.
public struct MotoServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// What the server printed.
    public var log: String

    /// Creates an error.
    public init(message: String, log: String) {
        self.message = message
        self.log = log
    }

    public var description: String { log.isEmpty ? message : "\(message)\n--- moto_server output ---\n\(log)" }
}
