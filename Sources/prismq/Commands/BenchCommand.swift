import ArgumentParser
import Foundation
import Logging
import PrismQ
import PrismQSQLite
import Synchronization

/// `prismq bench`: PrismQ's throughput beside the raw-SQLite limit, measured in one run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure PrismQ beside the raw-SQLite baseline on temporary databases.",
        discussion: """
            Each scenario runs --runs times on a fresh temporary database; the figure is the \
            median rate, and each PrismQ figure is also given as a ratio to its raw-SQLite \
            baseline from the same run. --quick runs small counts (seconds, for CI).
            """
    )

    @Flag(name: .long, help: "Small counts: a smoke run of a few seconds.")
    var quick = false

    @Option(name: .long, help: "Runs per scenario (the median is reported).")
    var runs: Int = 3

    @Option(name: .long, help: "PRAGMA profile of the databases.")
    var profile: String = "balanced"

    @Flag(name: .long, help: "Print the results as JSON.")
    var json = false

    @Option(name: .long, help: "Run only the scenarios whose name contains this text (and their baselines).")
    var only: String?

    /// One measured scenario.
    struct Scenario {
        var name: String
        var baseline: String?
        var operations: Int
        var measure: @Sendable (SQLiteStore) async throws -> Duration
    }

    func run() async throws {
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be between 1 and 50.") }
        let pragmas: SQLitePragmaProfile
        do { pragmas = try SQLitePragmaProfile.named(profile) } catch { throw ValidationError(error.message) }
        let scale = quick ? 1 : 10
        let scenarios = Self.select(Self.scenarios(scale: scale), matching: only)
        var medians: [String: Double] = [:]
        var rows: [(Scenario, Double)] = []
        for (index, scenario) in scenarios.enumerated() {
            var rates: [Double] = []
            for run in 1...runs {
                progress("[\(index + 1)/\(scenarios.count)] \(scenario.name), run \(run)/\(runs)")
                let elapsed = try await Self.withFreshStore(pragmas) { store in try await scenario.measure(store) }
                rates.append(Double(scenario.operations) / Self.seconds(elapsed))
            }
            let median = rates.sorted()[rates.count / 2]
            medians[scenario.name] = median
            rows.append((scenario, median))
        }
        let offered = 1000
        let latencyCount = quick ? 300 : 3000
        var percentiles: [[Double]] = []
        for run in 1...runs {
            progress("[latency] enqueue→start at \(offered)/s offered, run \(run)/\(runs)")
            let samples = try await Self.withFreshStore(pragmas) { store in
                try await Self.startLatencies(TaskQueue(store: store), rate: offered, count: latencyCount)
            }.sorted()
            percentiles.append(
                [0.5, 0.95, 0.99].map { samples[min(samples.count - 1, Int(Double(samples.count) * $0))] })
        }
        let latency = (0..<3).map { index in percentiles.map { $0[index] }.sorted()[percentiles.count / 2] }
        progress(nil)
        report(rows, medians: medians, latency: (offered, latencyCount, latency))
    }

    /// The scenarios whose name contains `text`, with the baselines they are compared to.
    static func select(_ scenarios: [Scenario], matching text: String?) -> [Scenario] {
        guard let text else { return scenarios }
        let chosen = scenarios.filter { $0.name.contains(text) }
        let baselines = Set(chosen.compactMap(\.baseline))
        return scenarios.filter { $0.name.contains(text) || baselines.contains($0.name) }
    }

    /// Enqueue→start latencies in milliseconds of `count` tasks enqueued at `rate` per second
    /// into an idle in-process pool (timestamps ride in the payload, to the microsecond).
    static func startLatencies(_ queue: TaskQueue, rate: Int, count: Int) async throws -> [Double] {
        var configuration = WorkerPoolConfiguration()
        configuration.concurrency = 16
        configuration.sweepInterval = nil
        var logger = Logger(label: "prismq.bench")
        logger.logLevel = .error
        let pool = WorkerPool(queue: queue, configuration: configuration, logger: logger)
        let samples = Mutex<[Double]>([])
        let finished = AsyncStream<Void>.makeStream()
        pool.register("latency") { context in
            let started = Date().timeIntervalSince1970
            let sent = (try? context.task.payload.decode(as: Double.self)) ?? started
            let total = samples.withLock { samples in
                samples.append((started - sent) * 1000)
                return samples.count
            }
            if total == count { finished.continuation.yield() }
            return nil
        }
        let running = Task { try await pool.run() }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        for index in 0..<count {
            let due = start + .microseconds(Int64(index) * 1_000_000 / Int64(rate))
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
            let payload = try RawJSON(validating: String(Date().timeIntervalSince1970))
            try await queue.enqueue(NewTask(type: "latency", payload: payload))
        }
        for await _ in finished.stream { break }
        pool.stop()
        try await running.value
        return samples.withLock { $0 }
    }

    private func report(
        _ rows: [(Scenario, Double)], medians: [String: Double], latency: (rate: Int, count: Int, ms: [Double])
    ) {
        func ratio(_ scenario: Scenario, _ rate: Double) -> Double? {
            scenario.baseline.flatMap { medians[$0] }.map { rate / $0 }
        }
        if json {
            let items = rows.map { scenario, rate in
                var writer = JSONWriter()
                writer.add("name", scenario.name)
                writer.add("operations", scenario.operations)
                writer.add("median_per_second", rate.rounded())
                writer.add("baseline", scenario.baseline)
                writer.add("ratio_to_baseline", ratio(scenario, rate).map { ($0 * 100).rounded() / 100 })
                return writer.json
            }
            var latencyWriter = JSONWriter()
            latencyWriter.add("offered_per_second", latency.rate)
            latencyWriter.add("tasks", latency.count)
            latencyWriter.add("p50_ms", latency.ms[0])
            latencyWriter.add("p95_ms", latency.ms[1])
            latencyWriter.add("p99_ms", latency.ms[2])
            var writer = JSONWriter()
            writer.add("profile", profile)
            writer.add("runs", runs)
            writer.add("results", raw: JSONWriter.array(items))
            writer.add("in_process_start_latency", raw: latencyWriter.json)
            print(writer.json)
            return
        }
        print("profile \(profile), median of \(runs) runs, each on a fresh database\n")
        let table = rows.map { scenario, rate in
            [
                scenario.name, String(scenario.operations), String(format: "%.0f", rate),
                ratio(scenario, rate).map { String(format: "%.2fx %@", $0, scenario.baseline!) } ?? "-",
            ]
        }
        print(Formatting.table(header: ["SCENARIO", "OPS", "PER SECOND", "VS BASELINE"], rows: table))
        let (p50, p95, p99) = (latency.ms[0], latency.ms[1], latency.ms[2])
        print(
            "\nenqueue→start, in process, \(latency.rate)/s offered, \(latency.count) tasks: "
                + String(format: "p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (medians of runs)", p50, p95, p99)
        )
    }

    private func progress(_ text: String?) {
        guard !json || text == nil else { return }
        let line = text.map { "\r\u{1B}[2K" + $0 } ?? "\r\u{1B}[2K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Runs `body` on a store over a new temporary database, removed afterwards.
    static func withFreshStore<T>(
        _ profile: SQLitePragmaProfile, _ body: (SQLiteStore) async throws -> T
    )
        async throws -> T
    {
        let directory = NSTemporaryDirectory() + "prismq-bench-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SQLiteConfiguration()
        configuration.profile = profile
        return try await body(try SQLiteStore(path: directory + "/bench.db", configuration: configuration))
    }

    static func seconds(_ duration: Duration) -> Double {
        max(1e-9, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// The scenarios, with counts scaled by `scale` (1 for --quick).
    static func scenarios(scale: Int) -> [Scenario] {
        let single = 500 * scale
        let batch = 10_000 * scale
        let tasks = 1_000 * scale
        return [
            Scenario(name: "raw insert, 1 row per transaction", baseline: nil, operations: single) { store in
                try await timed { try await SQLiteBaseline.insertOneByOne(store, count: single) }
            },
            Scenario(name: "raw insert, 1000 rows per transaction", baseline: nil, operations: batch) { store in
                try await timed { try await SQLiteBaseline.insertInBatches(store, count: batch) }
            },
            Scenario(name: "raw claim tx + complete tx", baseline: nil, operations: tasks) { store in
                try await SQLiteBaseline.insertInBatches(store, count: tasks)
                return try await timed { _ = try await SQLiteBaseline.claimAndComplete(store) }
            },
            Scenario(
                name: "enqueue, 1 producer", baseline: "raw insert, 1 row per transaction", operations: single
            ) { store in
                let queue = TaskQueue(store: store)
                return try await timed {
                    for _ in 0..<single { try await queue.enqueue(NewTask(type: "bench")) }
                }
            },
            Scenario(
                name: "enqueue, 16 producers", baseline: "raw insert, 1 row per transaction", operations: single
            ) { store in
                let queue = TaskQueue(store: store)
                return try await timed {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for producer in 0..<16 {
                            group.addTask {
                                for _ in stride(from: producer, to: single, by: 16) {
                                    try await queue.enqueue(NewTask(type: "bench"))
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            },
            Scenario(
                name: "enqueue, batches of 1000", baseline: "raw insert, 1000 rows per transaction", operations: batch
            ) { store in
                let queue = TaskQueue(store: store)
                return try await timed {
                    for _ in stride(from: 0, to: batch, by: 1000) {
                        try await queue.enqueue(batch: Array(repeating: NewTask(type: "bench"), count: 1000))
                    }
                }
            },
            Scenario(
                name: "claim + complete, in-process pool of 16", baseline: "raw claim tx + complete tx",
                operations: tasks
            ) { store in
                let queue = TaskQueue(store: store)
                for start in stride(from: 0, to: tasks, by: 1000) {
                    try await queue.enqueue(
                        batch: Array(repeating: NewTask(type: "bench"), count: min(1000, tasks - start)))
                }
                return try await runPool(queue, until: tasks)
            },
        ]
    }

    /// Runs a pool of 16 with a no-op handler until `count` tasks completed.
    static func runPool(_ queue: TaskQueue, until count: Int) async throws -> Duration {
        var configuration = WorkerPoolConfiguration()
        configuration.concurrency = 16
        configuration.sweepInterval = nil
        var logger = Logger(label: "prismq.bench")
        logger.logLevel = .error
        let pool = WorkerPool(queue: queue, configuration: configuration, logger: logger)
        let done = Atomic<Int>(0)
        let finished = AsyncStream<Void>.makeStream()
        pool.register("bench") { _ in
            if done.add(1, ordering: .relaxed).newValue == count { finished.continuation.yield() }
            return nil
        }
        let start = ContinuousClock.now
        let running = Task { try await pool.run() }
        for await _ in finished.stream { break }
        let elapsed = ContinuousClock.now - start
        pool.stop()
        try await running.value
        return elapsed
    }

    static func timed(_ body: () async throws -> Void) async throws -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }
}
