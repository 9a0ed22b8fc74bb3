// swift-tools-version: 6.1
// The libFuzzer target for the RESP decoder. Built by scripts/fuzz-resp.sh with
// `-sanitize=fuzzer,address`; not part of the main package, so normal builds never see it.
import PackageDescription

let package = Package(
    name: "RESPFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Spillway", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "RESPFuzz",
            dependencies: [
                .product(name: "SpillwayRedis", package: "Spillway"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        )
    ]
)
