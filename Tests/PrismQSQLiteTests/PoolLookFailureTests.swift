import Foundation
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@testable import PrismQSQLite

/// The worker pool on a store whose look at the ready set fails while its writes succeed (as a
/// SQLite store's does once its file is deleted, or PostgreSQL's while a read fails).
@Suite("Worker pool: a failing look", .timeLimit(.minutes(2)))
struct PoolLookFailureTests {
    let directory = TemporaryDirectory()

    @Test func aLookThatFailsAfterARecordedRoundDoesNotSettleItAgain() async throws {
        let store = LookFailingStore(base: try makeStore(in: directory))
        let queue = TaskQueue(store: store)
        var configuration = WorkerPoolConfiguration()
        configuration.workerID = "looks-fail"
        configuration.concurrency = 1
        let pool = WorkerPool(queue: queue, configuration: configuration)
        pool.register("t") { _ in nil }
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        for _ in 0..<3 {
            let id = try await queue.enqueue(NewTask(type: "t")).task.id
            #expect(try await eventually { try await queue.task(id: id).status == .completed })
        }
        pool.stop()
        try await running.value
        let settled = store.settled.withLock { $0 }
        #expect(settled.count == 3 && Set(settled).count == 3, "each lease settled once: \(settled)")
        #expect(store.failedLooks.load(ordering: .relaxed) > 0, "the looks did fail")
    }
}

/// A SQLite store whose readiness read always fails, and which records every settlement.
private final class LookFailingStore: TaskStore, LeaseStore, ReadinessStore {
    let base: SQLiteStore
    let settled = Locked<[LeaseID]>([])
    let failedLooks = Atomic(0)

    init(base: SQLiteStore) {
        self.base = base
    }

    func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration? {
        failedLooks.add(1, ordering: .relaxed)
        throw QueueError(.storage, "The look at the ready set failed (a test's store).")
    }

    func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        base.watchCommits(onCommit)
    }

    func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        settled.withLock { $0 += settlements.map(\.lease) }
        return try await base.settle(settlements, retryPolicy: retryPolicy, thenClaim: request)
    }

    func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] { try await base.enqueue(tasks) }
    func task(id: Int64) async throws(QueueError) -> QueueTask { try await base.task(id: id) }
    func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage {
        try await base.tasks(matching: filter, page: page)
    }
    func cancel(id: Int64) async throws(QueueError) -> QueueTask { try await base.cancel(id: id) }
    func retry(id: Int64) async throws(QueueError) -> QueueTask { try await base.retry(id: id) }
    func stats() async throws(QueueError) -> QueueStats { try await base.stats() }
    func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket] {
        try await base.throughput(minutes: minutes)
    }
    func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] { try await base.logs(taskID: taskID) }
    func workers() async throws(QueueError) -> [WorkerInfo] { try await base.workers() }
    func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] { try await base.claim(request) }
    func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        try await base.renew(leases, for: duration)
    }
    func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        try await base.complete(lease, result: result)
    }
    func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask {
        try await base.fail(lease, error: error, retryable: retryable, retryPolicy: retryPolicy)
    }
    func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask { try await base.release(lease) }
}
