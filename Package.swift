// swift-tools-version: 6.2
import PackageDescription
import class Foundation.ProcessInfo

let package = Package(
    name: "Spillway",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Spillway", targets: ["Spillway"]),
        .library(name: "SpillwayRedis", targets: ["SpillwayRedis"]),
        .library(name: "SpillwayHummingbird", targets: ["SpillwayHummingbird"]),
        .library(name: "SpillwayTesting", targets: ["SpillwayTesting"]),
        .library(name: "SpillwayPostgres", targets: ["SpillwayPostgres"]),
        .library(name: "SpillwayS3", targets: ["SpillwayS3"]),
        .library(name: "SpillwayProxy", targets: ["SpillwayProxy"]),
        .executable(name: "spillway", targets: ["spillway"]),
        .plugin(name: "SpillwayPolicyPlugin", targets: ["SpillwayPolicyPlugin"]),
        .plugin(name: "SpillwayAuditPlugin", targets: ["SpillwayAuditPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Shared blob stores only (SpillwayPostgres, SpillwayS3): never reached by the core.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // libxxhash from the system (Debian: libxxhash-dev).
        .systemLibrary(
            name: "CXXHash",
            pkgConfig: "libxxhash",
            providers: [.apt(["libxxhash-dev"]), .brew(["xxhash"])]
        ),
        // The core: operations, the backend contract, the chain, policies, guards, MemoryCache.
        .target(
            name: "Spillway",
            dependencies: [
                "CXXHash",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // RESP3 client over SwiftNIO, implementing CacheClient.
        .target(
            name: "SpillwayRedis",
            dependencies: [
                "Spillway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Hummingbird integration: rate-limit middleware and a PersistDriver wrapper.
        .target(
            name: "SpillwayHummingbird",
            dependencies: [
                "Spillway",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A BlobStore on PostgreSQL (postgres-nio), shared by every instance of a deployment.
        .target(
            name: "SpillwayPostgres",
            dependencies: [
                "Spillway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A BlobStore on any S3-compatible object store: SigV4 on swift-crypto, AsyncHTTPClient.
        .target(
            name: "SpillwayS3",
            dependencies: [
                "Spillway",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Fault injection and a real-server launcher, for users' tests and ours.
        .target(
            name: "SpillwayTesting",
            dependencies: [
                "Spillway",
                "SpillwayRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `spillway proxy`: a RESP sidecar that applies the key guard, the spill and the OOM ladder
        // to any client's traffic (redis-py, Django, Celery), one upstream connection per client.
        .target(
            name: "SpillwayProxy",
            dependencies: [
                "Spillway",
                "SpillwayRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Policy-file parsing and validation, shared by the CLI, the plugins and the runtime.
        .target(
            name: "SpillwayPolicyFile",
            dependencies: ["Spillway"]
        ),
        .executableTarget(
            name: "spillway",
            dependencies: [
                "Spillway",
                "SpillwayRedis",
                "SpillwayPolicyFile",
                "SpillwayTesting",
                "SpillwayPostgres",
                "SpillwayS3",
                "SpillwayProxy",
                // `spillway bench blobstores` compares PostgresBlobStore with bare postgres-nio.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The build plugin's tool: only the policy-file module and the core, so a package using
        // SpillwayPolicyPlugin builds neither NIOPosix/NIOSSL, the Redis client, SpillwayTesting,
        // Hummingbird nor ArgumentParser (scripts/check-plugin-deps.sh fails if that changes).
        .executableTarget(
            name: "spillway-policy",
            dependencies: ["SpillwayPolicyFile"]
        ),
        .plugin(
            name: "SpillwayPolicyPlugin",
            capability: .buildTool(),
            dependencies: ["spillway-policy"]
        ),
        .plugin(
            name: "SpillwayAuditPlugin",
            capability: .command(
                intent: .custom(verb: "spillway-audit", description: "Audit a live Redis against the package's policy file"),
                permissions: [.allowNetworkConnections(scope: .all(), reason: "spillway audit connects to the Redis server given as its argument")]
            )
            // No tool dependency: the plugin builds the `spillway` product when it runs, so that
            // `swift build` does not compile the whole CLI a second time as a host tool.
        ),
        .testTarget(
            name: "SpillwayTests",
            dependencies: [
                "Spillway",
                // The CLI module, so `spillway audit` runs end to end against a real redis-server.
                "spillway",
                "SpillwayRedis",
                "SpillwayTesting",
                "SpillwayPolicyFile",
                "SpillwayPostgres",
                "SpillwayS3",
                "SpillwayProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SpillwayHummingbirdTests",
            dependencies: [
                "Spillway",
                "SpillwayHummingbird",
                "SpillwayRedis",
                "SpillwayTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system && target.type != .plugin {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    // CI (scripts/test.sh) treats warnings in Spillway's own targets as errors.
    if ProcessInfo.processInfo.environment["SPILLWAY_WARNINGS_AS_ERRORS"] != nil {
        settings.append(.treatAllWarnings(as: .error))
    }
    target.swiftSettings = settings
}

// package-benchmark suites (Benchmarks/<Suite>/), built only when SPILLWAY_BENCHMARKS is set, so
// that users and the test suite never build the benchmark machinery.
// Run: scripts/bench.sh [Suite]; the XXH3-vs-xxhsum ratio: scripts/bench-xxhash.sh
if ProcessInfo.processInfo.environment["SPILLWAY_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"])
    )
    let suites: [(name: String, dependencies: [Target.Dependency])] = [
        ("KeyGuardBenchmarks", ["Spillway", "SpillwayTesting"]),
        ("SpillBenchmarks", ["Spillway"]),
        ("DegradeBenchmarks", ["Spillway"]),
        ("RedisBenchmarks", ["Spillway", "SpillwayRedis", "SpillwayTesting", .product(name: "NIOPosix", package: "swift-nio")]),
    ]
    for suite in suites {
        package.targets.append(
            .executableTarget(
                name: suite.name,
                dependencies: suite.dependencies + [
                    .product(name: "Benchmark", package: "benchmark"),
                    .product(name: "NIOCore", package: "swift-nio"),
                ],
                path: "Benchmarks/\(suite.name)",
                plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
            )
        )
    }
    // A plain release executable that runs GETs for an external allocation counter (heaptrack).
    package.targets.append(
        .executableTarget(name: "RedisAllocProbe", dependencies: ["Spillway", "SpillwayRedis", "SpillwayTesting"], path: "Benchmarks/RedisAllocProbe")
    )
    // A plain release executable that decodes one big RESP reply, for an instruction profiler.
    package.targets.append(
        .executableTarget(name: "RESPDecodeProbe", dependencies: ["SpillwayRedis", .product(name: "NIOCore", package: "swift-nio")], path: "Benchmarks/RESPDecodeProbe")
    )
    // A plain release executable, not a package-benchmark suite: it compares against `xxhsum -b`.
    package.targets.append(
        .executableTarget(name: "XXHashBench", dependencies: ["Spillway", "SpillwayTesting"], path: "Benchmarks/XXHashBench")
    )
}

// libFuzzer target for the policy-file parser (Fuzz/PolicyFuzzer), built only when SPILLWAY_FUZZ
// is set (to the path of compiler-rt's libclang_rt.fuzzer_no_main archive: SwiftPM renames an
// executable's entry point, so the fuzzer brings its own main and runs libFuzzer's driver), into
// its own scratch path. Only the fuzzer and SpillwayPolicyFile are instrumented.
// Run: scripts/fuzz-policy.sh [SECONDS]
if let libFuzzer = ProcessInfo.processInfo.environment["SPILLWAY_FUZZ"] {
    let fuzz: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]
    let instrumented: Set<String> = ProcessInfo.processInfo.environment["SPILLWAY_FUZZ_SPILL"] != nil ? ["Spillway"] : ["SpillwayPolicyFile"]
    for target in package.targets where instrumented.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + fuzz
    }
    package.targets.append(contentsOf: [
        .target(name: "CFuzzerDriver", path: "Fuzz/CFuzzerDriver"),
        .executableTarget(
            name: "PolicyFuzzer",
            dependencies: ["Spillway", "SpillwayPolicyFile", "CFuzzerDriver"],
            path: "Fuzz/PolicyFuzzer",
            swiftSettings: fuzz,
            linkerSettings: [.unsafeFlags(["-sanitize=address", "-Xlinker", libFuzzer, "-lstdc++"])]
        ),
        // The spill envelope and pointer decoder (Fuzz/SpillPointerFuzzer); only the fuzzer
        // itself is instrumented here, Spillway when SPILLWAY_FUZZ_SPILL is set too.
        // Run: scripts/fuzz-spill.sh [SECONDS]
        .executableTarget(
            name: "SpillPointerFuzzer",
            dependencies: ["Spillway", "CFuzzerDriver", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/SpillPointerFuzzer",
            swiftSettings: fuzz,
            linkerSettings: [.unsafeFlags(["-sanitize=address", "-Xlinker", libFuzzer, "-lstdc++"])]
        ),
    ])
}
