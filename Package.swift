// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "prismq",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PrismQ", targets: ["PrismQ"]),
        .library(name: "PrismQSQLite", targets: ["PrismQSQLite"]),
        .library(name: "PrismQConformance", targets: ["PrismQConformance"]),
        .library(name: "PrismQClient", targets: ["PrismQClient"]),
        .library(name: "PrismQPostgres", targets: ["PrismQPostgres"]),
        .executable(name: "prismq", targets: ["prismq"]),
        .executable(name: "prismq-chaos", targets: ["prismq-chaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .target(
            name: "PrismQ",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "PrismQSQLite",
            dependencies: [
                "PrismQ",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "PrismQPostgres",
            dependencies: [
                "PrismQ",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(name: "PrismQConformance", dependencies: ["PrismQ"], swiftSettings: upcoming),
        .target(name: "PrismQWire", dependencies: ["PrismQ"], swiftSettings: upcoming),
        .target(
            name: "PrismQClient",
            dependencies: [
                "PrismQ", "PrismQWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .target(name: "PrismQTerminal", dependencies: ["PrismQ"], swiftSettings: upcoming),
        // What the chaos run, the bench and the tests share: loopback ports and connections, a
        // raw HTTP connection, a seeded generator, a held SQLite write lock, `eventually`.
        .target(
            name: "PrismQHarness", dependencies: [.product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: upcoming
        ),
        .target(
            name: "PrismQBench",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQPostgres", "PrismQTerminal", "PrismQWire", "PrismQHarness",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "PrismQServer",
            dependencies: [
                "PrismQ", "PrismQWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "prismq",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQPostgres", "PrismQServer", "PrismQClient", "PrismQWire", "PrismQBench",
                "PrismQTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        // libFuzzer's driver, declared for prismq-fuzz (linked only by -sanitize=fuzzer).
        .target(name: "CLibFuzzer"),
        // The fuzz target over request decoding: ./scripts/fuzz-requests builds it with
        // libFuzzer; a plain build replays inputs.
        .executableTarget(
            name: "prismq-fuzz", dependencies: ["PrismQ", "PrismQWire", "CLibFuzzer"], swiftSettings: upcoming
        ),
        .executableTarget(
            name: "prismq-chaos",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQPostgres", "PrismQClient", "PrismQHarness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQTests",
            dependencies: ["PrismQ", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQServerTests",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQPostgres", "PrismQServer", "PrismQWire", "PrismQClient",
                "PrismQHarness",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQSQLiteTests",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQConformance", "PrismQHarness",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQPostgresTests",
            dependencies: [
                "PrismQ", "PrismQPostgres", "PrismQConformance", "PrismQHarness",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQCommandTests",
            dependencies: [
                "prismq", "PrismQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PrismQCLITests",
            dependencies: [
                "PrismQ", "PrismQSQLite", "PrismQPostgres", "PrismQHarness",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: upcoming
        ),
    ]
)
