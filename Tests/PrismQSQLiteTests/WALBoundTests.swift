import Foundation
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@testable import PrismQSQLite

/// The write-ahead log under sustained load: the store's checkpoints keep it bounded.
@Suite("WAL bound under sustained load", .timeLimit(.minutes(3)))
struct WALBoundTests {
    let directory = TemporaryDirectory()

    /// The load's stop flag and the largest log size seen.
    final class Sampler: Sendable {
        let stop = Atomic(false)
        let largest = Atomic(0)
        let samples = Atomic(0)
    }

    @Test func theLogStaysUnderItsBoundWhileProducersWorkersAndReadersRun() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        let payload = try RawJSON(validating: "\"" + String(repeating: "w", count: 300) + "\"")
        let sampler = Sampler()
        let log = store.path + "-wal"
        let pool = WorkerPool(
            queue: queue,
            configuration: {
                var configuration = WorkerPoolConfiguration()
                configuration.concurrency = 8
                return configuration
            }())
        pool.register("load") { _ in nil }
        let running = Task { try await pool.run() }
        let producers = (0..<1).map { _ in
            Task {
                while !sampler.stop.load(ordering: .relaxed) {
                    _ = try await queue.enqueue(batch: (0..<50).map { _ in NewTask(type: "load", payload: payload) })
                }
            }
        }
        // A dashboard that polls without pause: each read overlaps the load's writes.
        let reader = Task {
            while !sampler.stop.load(ordering: .relaxed) {
                _ = try await queue.stats()
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let watcher = Task {
            while !sampler.stop.load(ordering: .relaxed) {
                let size = Int(SQLiteStore.fileSize(log))
                if size > sampler.largest.load(ordering: .relaxed) { sampler.largest.store(size, ordering: .relaxed) }
                sampler.samples.add(1, ordering: .relaxed)
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        // Sustained: until the load has written the bound's worth of log several times over
        // (12,000 tasks; without truncations the log reached 71 MB over 10,000), or for a
        // minute on a machine the rest of the suite keeps busy.
        let threshold = store.configuration.profile.walAutocheckpoint
        // The documented bound: 16 thresholds (4 before a truncation is tried, and room for
        // tries that found a slow reader).
        let bound = 16 * threshold * 4096
        let completed = Atomic(0)
        _ = await eventually(timeout: .seconds(60)) {
            completed.store((try? await queue.stats().byStatus[.completed] ?? 0) ?? 0, ordering: .relaxed)
            return completed.load(ordering: .relaxed) >= 12_000
        }
        sampler.stop.store(true, ordering: .relaxed)
        for producer in producers { try await producer.value }
        try await reader.value
        await watcher.value
        pool.stop()
        try await running.value

        let largest = sampler.largest.load(ordering: .relaxed)
        let tasks = completed.load(ordering: .relaxed)
        #expect(sampler.samples.load(ordering: .relaxed) > 100 && tasks >= 100, "\(tasks) tasks")
        #expect(largest > 0 && largest <= bound, "the log reached \(largest) bytes; its bound is \(bound)")
        print("WAL bound test: largest log \(largest) bytes (bound \(bound)) over \(tasks) tasks")
    }
}
