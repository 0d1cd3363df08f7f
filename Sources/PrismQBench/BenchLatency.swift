import Foundation
import PrismQ
import PrismQSQLite
import Synchronization

/// Enqueue→start latency: tasks offered at a fixed rate, each carrying its enqueue time.
enum BenchLatency {
    /// Enqueues `count` tasks of type `latency` at `rate` per second, each with the time it
    /// was sent (seconds since 1970, to the microsecond) as its payload.
    static func offer(_ count: Int, at rate: Int, to queue: TaskQueue) async throws {
        let start = ContinuousClock.now
        for index in 0..<count {
            let due = start + .microseconds(Int64(index) * 1_000_000 / Int64(rate))
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
            let payload = try RawJSON(validating: String(Date().timeIntervalSince1970))
            try await queue.enqueue(NewTask(type: "latency", payload: payload))
        }
    }

    /// Latencies in milliseconds of `count` tasks offered at `rate` into an idle in-process
    /// pool of 16.
    static func inProcess(_ store: SQLiteStore, rate: Int, count: Int) async throws -> [Double] {
        try await inProcess(TaskQueue(store: store), rate: rate, count: count)
    }

    /// Latencies as above, on `queue`.
    static func inProcess(_ queue: TaskQueue, rate: Int, count: Int) async throws -> [Double] {
        let pool = WorkerPool(queue: queue, configuration: benchPoolConfiguration, logger: quietLogger)
        let samples = Locked<[Double]>([])
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
        try await Task.sleep(for: .milliseconds(100))  // past its first (empty) claim
        try await offer(count, at: rate, to: queue)
        for await _ in finished.stream { break }
        pool.stop()
        try await running.value
        return samples.withLock { $0 }
    }

    /// The p50, p95 and p99 of `samples`.
    static func percentiles(_ samples: [Double]) -> [Double] {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return [.nan, .nan, .nan] }
        return [0.5, 0.95, 0.99].map { sorted[min(sorted.count - 1, Int(Double(sorted.count) * $0))] }
    }
}
