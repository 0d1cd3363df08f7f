import Foundation
import Logging
import PrismQ
import PrismQSQLite
import Synchronization

/// One throughput scenario of `prismq bench`: `operations` done in the returned time.
struct BenchScenario {
    var name: String
    /// The raw-SQLite scenario it is compared with.
    var baseline: String?
    var operations: Int
    var measure: @Sendable (SQLiteStore) async throws -> Duration
}

extension BenchScenario {
    /// The throughput scenarios, with counts scaled by `scale` (1 for --quick, 10 for a full
    /// run); `processes` runs the worker processes.
    static func all(scale: Int, processes: BenchProcesses) -> [BenchScenario] {
        let single = 500 * scale
        let batch = 10_000 * scale
        let tasks = 1_000 * scale
        let rawInsert = "raw insert, 1 row per transaction"
        let rawTwoTransactions = "raw claim tx + complete tx"
        return [
            BenchScenario(name: rawInsert, operations: single) { store in
                try await timed { try await SQLiteBaseline.insertOneByOne(store, count: single) }
            },
            BenchScenario(name: "raw insert, 1000 rows per transaction", operations: batch) { store in
                try await timed { try await SQLiteBaseline.insertInBatches(store, count: batch) }
            },
            BenchScenario(name: rawTwoTransactions, operations: tasks) { store in
                try await SQLiteBaseline.insertInBatches(store, count: tasks)
                return try await timed { _ = try await SQLiteBaseline.claimAndComplete(store) }
            },
            BenchScenario(name: "raw complete + claim next, 1 transaction", operations: tasks) { store in
                try await SQLiteBaseline.insertInBatches(store, count: tasks)
                return try await timed { _ = try await SQLiteBaseline.completeAndClaimNext(store) }
            },
            BenchScenario(name: "enqueue, 1 producer", baseline: rawInsert, operations: single) { store in
                let queue = TaskQueue(store: store)
                return try await timed {
                    for _ in 0..<single { try await queue.enqueue(NewTask(type: "bench")) }
                }
            },
            BenchScenario(name: "enqueue, 16 producers", baseline: rawInsert, operations: single) { store in
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
            BenchScenario(
                name: "enqueue, batches of 1000", baseline: "raw insert, 1000 rows per transaction", operations: batch
            ) { store in
                let queue = TaskQueue(store: store)
                return try await timed {
                    for _ in stride(from: 0, to: batch, by: 1000) {
                        try await queue.enqueue(batch: Array(repeating: NewTask(type: "bench"), count: 1000))
                    }
                }
            },
            payloadScenario(bytes: 1024, count: tasks),
            payloadScenario(bytes: 16 << 10, count: tasks),
            BenchScenario(
                name: "claim + complete, in-process pool of 16", baseline: rawTwoTransactions, operations: tasks
            ) { store in
                let queue = TaskQueue(store: store)
                try await enqueue(tasks, into: queue)
                return try await runPool(queue, until: tasks)
            },
            BenchScenario(
                name: "claim + complete, 4 worker processes", baseline: rawTwoTransactions, operations: tasks
            ) { store in
                try await processes.claimAndComplete(store, tasks: tasks, workers: 4)
            },
        ]
    }

    /// Batch enqueues of tasks whose payload is `bytes` long, beside the raw batch insert of
    /// empty ones: how the cost grows with the payload.
    static func payloadScenario(bytes: Int, count: Int) -> BenchScenario {
        BenchScenario(
            name: "enqueue, batches of 1000, \(bytes >> 10) KiB payloads",
            baseline: "raw insert, 1000 rows per transaction",
            operations: count
        ) { store in
            let payload = try RawJSON(validating: #"{"data":""# + String(repeating: "x", count: bytes - 11) + #""}"#)
            let queue = TaskQueue(store: store)
            return try await timed {
                for start in stride(from: 0, to: count, by: 1000) {
                    let task = NewTask(type: "bench", payload: payload)
                    try await queue.enqueue(batch: Array(repeating: task, count: min(1000, count - start)))
                }
            }
        }
    }

    /// The scenarios whose name contains `text`, with the baselines they are compared to.
    static func select(_ scenarios: [BenchScenario], matching text: String?) -> [BenchScenario] {
        guard let text else { return scenarios }
        let chosen = scenarios.filter { $0.name.contains(text) }
        let baselines = Set(chosen.compactMap(\.baseline))
        return scenarios.filter { $0.name.contains(text) || baselines.contains($0.name) }
    }

    /// Enqueues `count` tasks of type `bench` in batches of 1000.
    static func enqueue(_ count: Int, into queue: TaskQueue, runAfter: Date? = nil) async throws {
        for start in stride(from: 0, to: count, by: 1000) {
            let task = NewTask(type: "bench", runAfter: runAfter)
            try await queue.enqueue(batch: Array(repeating: task, count: min(1000, count - start)))
        }
    }

    /// Runs a pool of 16 with a no-op handler until `count` tasks completed.
    static func runPool(_ queue: TaskQueue, until count: Int) async throws -> Duration {
        let pool = WorkerPool(queue: queue, configuration: benchPoolConfiguration, logger: quietLogger)
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

/// The pools of the bench: 16 handlers, no sweeper.
let benchPoolConfiguration: WorkerPoolConfiguration = {
    var configuration = WorkerPoolConfiguration()
    configuration.concurrency = 16
    configuration.sweepInterval = nil
    return configuration
}()

/// A logger that prints only errors, so that the bench's output stays its report.
let quietLogger: Logger = {
    var logger = Logger(label: "prismq.bench")
    logger.logLevel = .error
    return logger
}()
