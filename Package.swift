// swift-tools-version: 6.2
import PackageDescription

// Courier: the reliable event pipeline of Semble.
//
// Layering (each C library is imported by exactly one module of ours):
//   CRabbitMQ  → CourierAMQP       (librabbitmq, one actor per connection on its own thread)
//   CLibPQ     → CourierPostgres   (libpq, one actor per connection on its own thread)
//   CourierConcurrency             (the dedicated-thread serial executor both of them run on)
//   CourierSupport                 (arithmetic several modules write into the database or the wire, in one
//                                  place: FNV-1a, civil dates, the jittered backoff; package-internal)
//   CourierTelemetry               (trace context through messages and the outbox, span names and attributes,
//                                  the JSON log handler and the event metadata of log lines)
//   CourierEngine                  (the consuming engine: topology, the ack/retry/dead-letter decision)
//   CourierEvents                  (Semble's events: model, wire codec, schema upcasting, identity; Foundation only)
//   CourierHandlers                (Semble's handlers: feeds, notifications, card-activity bundles, inbox, migrations)
//   CourierPublisher               (what the API embeds: confirmed publishing, the transactional outbox, the relay)
//   CourierConfig                  (the settings courierd and the CLI share: one file, one set of environment variables)
//   CourierFailureIndex            (the failure index: every parked message in Postgres, written by courierd's journal,
//                                  read and updated by `courier dlq`; the parked-message model and its filter)
//   courierd, courier, courier-bench, courier-chaos (executables on top — the daemon, the ops CLI, the benchmark,
//                                  the chaos suite; they never see C). `courier` holds the dead-letter passes
//                                  (replay, purge, export/import), topology inspection and its exit statuses.
//   CourierTesting                 (test kit: per-run vhost/database, unique names)
//   CourierWorkloads               (Semble's state seeded realistically: the benchmark's and the chaos suite's)
//   courier-fuzz-events, courier-fuzz-headers (libFuzzer targets, Tests/Fuzz: `make fuzz`; in the
//                                  normal build they replay corpus files)

let package = Package(
    name: "courier",
    platforms: [.macOS(.v15)],
    // What another package may depend on: what an API embeds to publish Semble's events (the
    // publisher, the outbox and its relay, the events) and the two connection modules their
    // public API takes (AMQPConfiguration, PostgresConnection for the outbox's transaction). Every
    // other module is this package's own: its declarations are `package`, not `public`.
    products: [
        .library(name: "CourierAMQP", targets: ["CourierAMQP"]),
        .library(name: "CourierPostgres", targets: ["CourierPostgres"]),
        .library(name: "CourierEvents", targets: ["CourierEvents"]),
        .library(name: "CourierPublisher", targets: ["CourierPublisher"]),
        .executable(name: "courierd", targets: ["courierd"]),
        .executable(name: "courier", targets: ["courier"]),
        .executable(name: "courier-bench", targets: ["courier-bench"]),
        .executable(name: "courier-chaos", targets: ["courier-chaos"]),
    ],
    // OTLP: courierd can export its spans over OTLP/HTTP with swift-otel (switched on at run time by
    // OTEL_TRACES_EXPORTER). On by default; `swift build --disable-default-traits` leaves swift-otel,
    // async-http-client and swift-protobuf out of the build, and such a courierd refuses
    // OTEL_TRACES_EXPORTER=otlp with exit 78.
    traits: [
        .trait(name: "OTLP", description: "courierd exports traces over OTLP/HTTP (swift-otel)"),
        .default(enabledTraits: ["OTLP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.3.0"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context", from: "1.0.0"),
        // Only its OTLP/HTTP exporter: the gRPC one would add grpc-swift and nio-http2 to every build.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Tests only: generators and shrinking for the property-based test of the handlers.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
    ],
    targets: [
        // MARK: C libraries
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // MARK: Core modules
        .target(name: "CourierConcurrency"),
        .target(name: "CourierSupport"),
        .target(
            name: "CourierTelemetry",
            dependencies: [
                "CourierAMQP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ]
        ),
        .target(
            name: "CourierAMQP",
            dependencies: [
                "CRabbitMQ",
                "CourierConcurrency",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CourierPostgres",
            dependencies: [
                "CLibPQ",
                "CourierConcurrency",
                "CourierSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CourierEngine",
            dependencies: [
                "CourierAMQP",
                "CourierSupport",
                "CourierTelemetry",  // the event's metadata on log lines
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "CourierEvents", dependencies: ["CourierSupport"]),
        .target(
            name: "CourierHandlers",
            dependencies: [
                "CourierAMQP",
                "CourierEngine",
                "CourierEvents",
                "CourierPostgres",
                "CourierTelemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(
            name: "CourierPublisher",
            dependencies: [
                "CourierAMQP",
                "CourierEvents",
                "CourierPostgres",
                "CourierSupport",
                "CourierTelemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CourierConfig",
            dependencies: [
                "CourierAMQP",
                "CourierEngine",
                "CourierHandlers",
                "CourierPostgres",
                "CourierPublisher",  // the relay's defaults
                "CourierTelemetry",  // the log format
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CourierFailureIndex",
            dependencies: [
                "CourierAMQP",
                "CourierEngine",  // the journal it implements, failure headers
                "CourierEvents",  // derived ids for messages the broker parked
                "CourierPostgres",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CourierTesting",
            dependencies: [
                // The in-memory tracer the tests of spans and propagation bootstrap (TestTracing).
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Semble's state seeded as a live Semble database looks: shared by the benchmark and the chaos suite.
        .target(name: "CourierWorkloads", dependencies: ["CourierPostgres"]),

        // MARK: Executables
        .executableTarget(
            name: "courierd",
            dependencies: [
                "CourierConfig",
                "CourierFailureIndex",  // the journal of parked messages
                "CourierAMQP",
                "CourierEngine",
                "CourierHandlers",
                "CourierPublisher",
                "CourierPostgres",
                "CourierSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "CourierTelemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
            ]
        ),
        .executableTarget(
            name: "courier",
            dependencies: [
                "CourierConfig",
                "CourierFailureIndex",
                "CourierAMQP",
                "CourierEngine",
                "CourierEvents",
                // Semble's handlers and tables: the binding keys of `topology` (the union of the handlers'
                // event types, so nothing lower can tell them without copying that truth), `db init-semble`
                // and Semble's schema on the search_path (SembleTables). CourierConfig needs it too (SembleSettings).
                "CourierHandlers",
                "CourierPostgres",
                "CourierPublisher",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),  // Ctrl-C during replay and purge
            ]
        ),
        .executableTarget(
            name: "courier-bench",
            dependencies: [
                "CourierAMQP",
                "CourierEngine",
                "CourierEvents",
                "CourierHandlers",
                "CourierPostgres",
                "CourierPublisher",
                "CourierTesting",  // SplitMix64, for a reproducible event mix
                "CourierWorkloads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The chaos suite (`make chaos`): outbox writers, competing courierd processes killed and
        // restarted, broker restarts and a Postgres crash, then the tables against a clean run's.
        .executableTarget(
            name: "courier-chaos",
            dependencies: [
                "CourierAMQP",
                "CourierEngine",
                "CourierEvents",
                "CourierHandlers",
                "CourierPostgres",
                "CourierPublisher",
                "CourierTesting",  // SplitMix64
                "CourierWorkloads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Tests
        // A consumer that crashes on one chosen message: for the crash-loop test only.
        .executableTarget(
            name: "courier-test-consumer",
            dependencies: ["CourierAMQP", "CourierEngine", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Support/courier-test-consumer"
        ),
        // MARK: Fuzzing (`make fuzz`; Tests/Fuzz)
        // libFuzzer's driver, declared for the fuzz build only (nothing is linked in the normal one).
        .systemLibrary(name: "CLibFuzzer", path: "Tests/Fuzz/CLibFuzzer"),
        // The harnesses (one function per target), the seed generator and the driver both
        // executables share; FuzzCorpusTests replays the committed corpus through them.
        .target(
            name: "CourierFuzz",
            dependencies: ["CLibFuzzer", "CourierAMQP", "CourierEngine", "CourierEvents"],
            path: "Tests/Fuzz/Harness"
        ),
        .executableTarget(name: "courier-fuzz-events", dependencies: ["CourierFuzz"], path: "Tests/Fuzz/courier-fuzz-events"),
        .executableTarget(name: "courier-fuzz-headers", dependencies: ["CourierFuzz"], path: "Tests/Fuzz/courier-fuzz-headers"),
        .testTarget(
            name: "CourierFuzzTests",
            dependencies: ["CourierFuzz", "CourierTesting", "courier-fuzz-events", "courier-fuzz-headers"]
        ),

        .testTarget(name: "CourierConcurrencyTests", dependencies: ["CourierConcurrency"]),
        .testTarget(name: "CourierSupportTests", dependencies: ["CourierSupport"]),
        .testTarget(
            name: "CourierTelemetryTests",
            dependencies: ["CourierTelemetry", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "CourierAMQPTests", dependencies: ["CourierAMQP", "CourierTesting"]),
        .testTarget(name: "CourierEventsTests", dependencies: ["CourierEvents", "CourierTesting"]),
        .testTarget(
            name: "CourierHandlersTests",
            dependencies: [
                "CourierHandlers", "CourierEvents", "CourierPostgres", "CourierPublisher", "CourierTelemetry", "CourierTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "CourierPublisherTests",
            dependencies: [
                "CourierPublisher", "CourierAMQP", "CourierEvents", "CourierPostgres", "CourierTelemetry", "CourierTesting",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(name: "CourierPostgresTests", dependencies: ["CourierPostgres", "CourierTesting"]),
        .testTarget(
            name: "CourierOpsTests",
            dependencies: [
                "courier", "courierd", "CourierFailureIndex", "CourierAMQP", "CourierEngine", "CourierEvents", "CourierHandlers", "CourierPostgres",
                "CourierPublisher", "CourierTesting", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CourierEngineTests",
            dependencies: ["CourierEngine", "CourierPostgres", "CourierSupport", "CourierTesting", "courier-test-consumer"]
        ),
        .testTarget(
            name: "CourierdTests",
            dependencies: [
                "courierd", "CourierConfig", "CourierAMQP", "CourierEngine", "CourierEvents", "CourierHandlers", "CourierPostgres",
                "CourierPublisher", "CourierTesting",
                .product(name: "Hummingbird", package: "hummingbird"),  // the OTLP receiver of OTLPExportTests
                .product(name: "HummingbirdTesting", package: "hummingbird"),  // the health endpoints, in process
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),  // graceful shutdown, in process
            ]),
    ]
)
