// swift-tools-version: 6.1
import PackageDescription

// A small command-line app whose policies come from `Sources/PolicyExample/spillway.yml`,
// validated and compiled into Swift at build time by SpillwayPolicyPlugin.
let package = Package(
    name: "PolicyExample",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The repository root. A path dependency's identity is its directory's name, which differs
        // between checkouts ("spillway", "main", a CI workspace), so the dependency is given an
        // explicit name and the products below are looked up by that name.
        .package(name: "Spillway", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "PolicyExample",
            dependencies: [.product(name: "Spillway", package: "Spillway")],
            plugins: [.plugin(name: "SpillwayPolicyPlugin", package: "Spillway")]
        )
    ]
)
