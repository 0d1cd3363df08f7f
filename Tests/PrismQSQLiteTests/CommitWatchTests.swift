import Foundation
import Logging
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@testable import PrismQSQLite

/// Two stores on one file stand for two processes: each has its own connections.
@Suite("Commits seen across connections", .timeLimit(.minutes(5)))
struct CommitWatchTests {
    let directory = TemporaryDirectory()

    @Test func aCommitThroughAnotherConnectionReachesTheWatcher() async throws {
        let watched = try makeStore(in: directory)
        let other = try makeStore(in: directory)
        let seen = Atomic<Int>(0)
        let watch = try #require(watched.watchCommits { seen.add(1, ordering: .relaxed) })
        defer { watch.cancel() }
        #expect(seen.load(ordering: .relaxed) == 0)
        try await other.enqueue([NewTask(type: "t")])
        #expect(await eventually { seen.load(ordering: .relaxed) > 0 })
    }

    @Test func anIdlePoolStartsATaskEnqueuedThroughAnotherConnection() async throws {
        let workerStore = try makeStore(in: directory)
        let producer = TaskQueue(store: try makeStore(in: directory))
        var configuration = WorkerPoolConfiguration()
        // An idle poll of an hour: only the commit watch can start the task in time.
        configuration.idlePoll = .seconds(3600) ... .seconds(3600)
        configuration.sweepInterval = nil
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let pool = WorkerPool(queue: TaskQueue(store: workerStore), configuration: configuration, logger: logger)
        pool.register("t") { _ in nil }
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        // Once the pool has looked at the (empty) ready set, it sleeps.
        #expect(await eventually { workerStore.statistics.reads > 0 })
        let task = try await producer.enqueue(NewTask(type: "t")).task
        #expect(try await eventually { try await producer.task(id: task.id).status == .completed })
        pool.stop()
        try await running.value
    }
}
