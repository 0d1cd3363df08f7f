import Foundation
import Logging
import PostgresNIO
import PrismQ
import PrismQPostgres

/// `prismq bench --db postgres://…`: PrismQ on PostgreSQL beside the raw PostgreSQL limit
/// measured in the same run. Every run works in a schema of its own, dropped afterwards.
struct PostgresBench {
    /// The server, from `--db` (its schema is replaced by each run's).
    let server: PostgresConfiguration
    let runs: Int
    let quick: Bool
    let processes: BenchProcesses
    let progress: (String) -> Void

    /// The sections it can run.
    static let sections = ["throughput", "latency", "claim-depth"]

    // MARK: Sections

    func throughput() async throws -> BenchTable {
        let tasks = quick ? 1000 : 10_000
        let single = quick ? 500 : 5000
        let (rawInsert, rawClaim) = ("raw insert, 1 row per transaction", "raw claim tx + complete tx")
        let scenarios: [(name: String, baseline: String?, operations: Int, measure: (Run) async throws -> Duration)] = [
            (rawInsert, nil, single, { run in try await BenchScenario.timed { try await run.raw.insert(single) } }),
            ("enqueue, 16 producers", rawInsert, single, { run in try await Self.enqueue(single, producers: 16, run) }),
            (
                rawClaim, nil, tasks,
                { run in
                    try await run.raw.fill(tasks)
                    return try await BenchScenario.timed { try await run.raw.claimAndCompleteAll() }
                }
            ),
            (
                "claim + complete, in-process pool of 16", rawClaim, tasks,
                { run in
                    try await BenchScenario.enqueue(tasks, into: run.queue)
                    return try await BenchScenario.runPool(run.queue, until: tasks)
                }
            ),
            (
                "claim + complete, 4 worker processes", rawClaim, tasks,
                { run in
                    try await processes.claimAndComplete(
                        run.queue, at: run.url, tasks: tasks, workers: 4, makeReady: { try await run.raw.makeReady() })
                }
            ),
        ]
        var rates: [String: [Double]] = [:]
        for (index, scenario) in scenarios.enumerated() {
            for number in 1...runs {
                progress(
                    "[postgres throughput \(index + 1)/\(scenarios.count)] \(scenario.name), run \(number)/\(runs)")
                let elapsed = try await withFreshSchema { run in try await scenario.measure(run) }
                rates[scenario.name, default: []].append(Double(scenario.operations) / BenchCommand.seconds(elapsed))
            }
        }
        return BenchTable.throughput(
            title: "THROUGHPUT (PostgreSQL at \(server.host):\(server.port))",
            scenarios: scenarios.map { ($0.name, $0.baseline, $0.operations) }, rates: rates)
    }

    func latency() async throws -> BenchTable {
        let seconds = quick ? 0.5 : 4.0
        let measures: [(String, (Run, Int, Int) async throws -> [Double])] = [
            ("in process (pool of 16)", { try await BenchLatency.inProcess($0.queue, rate: $1, count: $2) }),
            (
                "another process (pool of 16)",
                { try await processes.crossProcessLatencies($0.queue, at: $0.url, rate: $1, count: $2) }
            ),
        ]
        return try await BenchTable.latency(
            title: "ENQUEUE→START LATENCY ON POSTGRESQL (tasks offered for \(seconds) s at each rate)",
            workers: measures, rates: [100, 500], seconds: seconds, runs: runs, progress: progress
        ) { measure, rate, count in
            try await withFreshSchema { run in try await measure(run, rate, count) }
        }
    }

    func claimDepth() async throws -> BenchTable {
        let (small, large) = (1000, quick ? 20_000 : 1_000_000)
        let claims = quick ? 200 : 2000
        let smallRates = try await claimRates(depth: small, claims: claims)
        let largeRates = try await claimRates(depth: large, claims: claims)
        return BenchTable.claimDepth(
            title: "CLAIMS PER SECOND BY QUEUE DEPTH ON POSTGRESQL (one task per claim; PrismQ names 4 types)",
            small: small, large: large, smallRates: smallRates, largeRates: largeRates)
    }

    /// Claims per second on a queue of `depth` ready tasks: each strategy, then the raw claim.
    private func claimRates(depth: Int, claims: Int) async throws -> [(name: String, rate: Double)] {
        try await withFreshSchema { run in
            progress("[postgres claim depth] filling a queue of \(depth) tasks")
            try await run.raw.fill(depth, types: BenchDepth.types)
            let claimers: [(String, () async throws -> Void)] =
                SchedulingStrategy.allCases.map { strategy in
                    let request = ClaimRequest(workerID: "bench", capabilities: BenchDepth.types, strategy: strategy)
                    return (strategy.rawValue, { _ = try await run.queue.claim(request) })
                } + [("raw FIFO claim (baseline)", { _ = try await run.raw.claimOne() })]
            return try await BenchDepth.rates(
                of: claimers, depth: depth, claims: claims, runs: runs, progress: { progress("postgres " + $0) },
                refill: { _ = try await run.queue.enqueue(BenchDepth.replacement()) })
        }
    }

    private static func enqueue(_ count: Int, producers: Int, _ run: Run) async throws -> Duration {
        try await BenchScenario.timed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for _ in stride(from: producer, to: count, by: producers) {
                            try await run.queue.enqueue(NewTask(type: "bench"))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    // MARK: Runs

    /// One run's schema: the queue on it, its URL for worker processes, and a raw connection.
    struct Run: Sendable {
        let queue: TaskQueue
        let url: String
        let raw: PostgresBaseline
    }

    /// Runs `body` in a new schema, dropped afterwards.
    private func withFreshSchema<T>(_ body: (Run) async throws -> T) async throws -> T {
        var configuration = server
        configuration.schema = "bench_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        configuration.maxConnections = 16
        let raw = try await PostgresBaseline(configuration)
        do {
            let store = try await PostgresStore(configuration: configuration, logger: quietLogger)
            defer { store.close() }
            let result = try await body(
                Run(queue: TaskQueue(store: store), url: Self.url(configuration), raw: raw))
            try await raw.dropSchema()
            return result
        } catch {
            try? await raw.dropSchema()
            throw error
        }
    }

    /// The URL a worker process opens the same schema with (it reaches the process in its
    /// environment, never its arguments).
    private static func url(_ configuration: PostgresConfiguration) -> String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = configuration.username
        components.password = configuration.password
        components.host = configuration.host
        components.port = configuration.port
        components.path = "/" + (configuration.database ?? configuration.username)
        components.queryItems = [
            .init(name: "schema", value: configuration.schema),
            .init(name: "sslmode", value: configuration.tls.rawValue),
            .init(name: "connect_timeout", value: String(Int(configuration.connectTimeout.inSeconds.rounded(.up)))),
        ]
        return components.string!
    }
}

/// The raw PostgreSQL limit that `prismq bench --db postgres://…` measures PrismQ against: the
/// same `SKIP LOCKED` claim and complete on the same schema, one task per transaction, through
/// one postgres-nio connection, without the queue's logic (no validation, history, leases or
/// registry).
final class PostgresBaseline: Sendable {
    private let connection: PostgresConnection
    private let schema: String
    private static let logger = quietLogger

    init(_ configuration: PostgresConfiguration) async throws {
        schema = configuration.schema
        var settings = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database,
            tls: try PostgresStore.connectionTLS(configuration.tls))
        settings.options.additionalStartupParameters = [("search_path", "\"\(schema)\"")]
        connection = try await PostgresConnection.connect(configuration: settings, id: 1, logger: Self.logger)
    }

    /// `count` single-row inserts, one transaction each.
    func insert(_ count: Int) async throws {
        for _ in 0..<count {
            try await run(
                """
                INSERT INTO tasks (type, payload, status, priority, max_attempts, created_at, run_after)
                VALUES ('bench', '{}', 'queued', 0, 3, \(unescaped: Self.now), \(unescaped: Self.now))
                """)
        }
    }

    /// Claims the first ready task (FIFO, any type) in a transaction of its own.
    @discardableResult
    func claimOne() async throws -> Int64? {
        let rows = try await run(
            """
            UPDATE tasks SET status = 'running', attempts = attempts + 1
            WHERE id = (SELECT id FROM tasks WHERE status = 'queued' AND run_after <= \(unescaped: Self.now)
                        ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id
            """)
        return try rows.first?.decode(Int64.self)
    }

    /// Claims and completes every ready task: a claim transaction and a complete transaction each.
    func claimAndCompleteAll() async throws {
        while let id = try await claimOne() {
            try await run(
                "UPDATE tasks SET status = 'completed', completed_at = \(unescaped: Self.now) WHERE id = \(id)")
        }
    }

    /// Fills the queue with `count` ready tasks spread over `types`, random priorities (0–9) and
    /// weighted-random keys, and refreshes the planner's statistics.
    func fill(_ count: Int, types: [String] = ["bench"]) async throws {
        try await run(
            """
            INSERT INTO tasks (type, payload, status, priority, max_attempts, created_at, run_after, sched_key)
            SELECT (\(types))[1 + i % \(types.count)], '{}', 'queued', floor(random() * 10), 3, 0, 0, random()
            FROM generate_series(1, \(count)) AS i
            """)
        try await run("ANALYZE tasks")
    }

    /// Makes every queued task ready now (the bench holds tasks back until its workers are up).
    func makeReady() async throws {
        try await run("UPDATE tasks SET run_after = \(unescaped: Self.now) WHERE status = 'queued'")
    }

    /// Drops the run's schema and closes the connection.
    func dropSchema() async throws {
        try await run("DROP SCHEMA \(unescaped: "\"" + schema + "\"") CASCADE")
        try await connection.close()
    }

    @discardableResult
    private func run(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: Self.logger).collect()
    }

    /// Now in milliseconds on the database's clock, which PrismQ's store also reads.
    private static let now = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}
