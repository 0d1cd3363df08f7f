import Foundation
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@testable import PrismQSQLite

/// The worker pool over a store that misbehaves in one way: its look at the ready set fails
/// while its writes succeed (as a SQLite store's does once its file is deleted, or
/// PostgreSQL's while a read fails), or its claim is held between its commit and its answer.
@Suite("Worker pool: a store's failing look, a claim held up", .timeLimit(.minutes(2)))
struct PoolStoreFaultTests {
    let directory = TemporaryDirectory()

    func pool(on store: InterposedStore, grace: Duration = .milliseconds(200)) -> (TaskQueue, WorkerPool) {
        let queue = TaskQueue(store: store)
        var configuration = WorkerPoolConfiguration()
        configuration.workerID = "interposed"
        configuration.concurrency = 1
        configuration.shutdownGracePeriod = grace
        return (queue, WorkerPool(queue: queue, configuration: configuration))
    }

    @Test func aLookThatFailsAfterARecordedRoundDoesNotSettleItAgain() async throws {
        let store = InterposedStore(base: try makeStore(in: directory), looksFail: true)
        let (queue, pool) = pool(on: store)
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

    /// A stop that comes while a claim is committed but not yet answered: its task is still
    /// handed back after the grace period (it used to run to its end, past any grace).
    @Test func aStopWhileAClaimIsInFlightStillHandsItsTaskBackAfterTheGrace() async throws {
        let reached = WakeupSignal()
        let open = WakeupSignal()
        let store = InterposedStore(base: try makeStore(in: directory)) {
            reached.notify()
            _ = await open.wait(timeout: .seconds(60))
        }
        let (queue, pool) = pool(on: store, grace: .milliseconds(100))
        pool.register("t") { _ in
            while true { try await Task.sleep(for: .milliseconds(10)) }  // until cancelled
        }
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        let id = try await queue.enqueue(NewTask(type: "t")).task.id
        #expect(await reached.wait(timeout: .seconds(30)), "the claim committed")
        pool.stop()
        // Time for the grace period to pass while the claim is held: the old pool found nothing
        // running then and gave up. (The pass does not depend on this wait, the old failure did.)
        try await Task.sleep(for: .milliseconds(300))
        open.notify()
        let handedBack = try await eventually(timeout: .seconds(30)) {
            try await queue.task(id: id).status == .queued
        }
        guard handedBack else {
            // Its handler would run on, and the pool with it: fail now instead of hanging.
            Issue.record("the task was not handed back: \(try await queue.task(id: id))")
            return
        }
        try await running.value
        let task = try await queue.task(id: id)
        #expect(task.status == .queued && task.attempts == 0, "\(task)")
        #expect(try await queue.logs(taskID: id).map(\.event) == [.enqueued, .claimed, .released])
    }

    /// A claim held in the store does not hold up the handlers already running: they are
    /// stopped when the grace period ends, and the held claim's task is handed back after it.
    @Test func aClaimHeldInTheStoreDoesNotDelayStoppingTheRunningHandlers() async throws {
        let reached = WakeupSignal()
        let open = WakeupSignal()
        let claims = Atomic(0)
        let store = InterposedStore(base: try makeStore(in: directory)) {
            guard claims.add(1, ordering: .relaxed).newValue == 2 else { return }  // hold the second
            reached.notify()
            _ = await open.wait(timeout: .seconds(60))
        }
        let queue = TaskQueue(store: store)
        var configuration = WorkerPoolConfiguration()
        configuration.workerID = "interposed"
        configuration.concurrency = 2
        configuration.shutdownGracePeriod = .milliseconds(100)
        let pool = WorkerPool(queue: queue, configuration: configuration)
        let stopped = Locked<[String]>([])
        pool.register("t") { context in
            do {
                while true { try await Task.sleep(for: .milliseconds(10)) }
            } catch {
                stopped.withLock { $0.append(context.task.payload.text) }
                throw error
            }
        }
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        let first = try await queue.enqueue(NewTask(type: "t", payload: RawJSON(validating: #""first""#))).task.id
        #expect(try await eventually { try await queue.task(id: first).status == .running })
        let second = try await queue.enqueue(NewTask(type: "t", payload: RawJSON(validating: #""second""#))).task.id
        #expect(await reached.wait(timeout: .seconds(30)), "the second claim committed and is held")
        pool.stop()
        let firstStopped = await eventually(timeout: .seconds(10)) { stopped.withLock { $0 } == [#""first""#] }
        #expect(firstStopped, "the running handler was stopped while the claim was held")
        open.notify()
        let handedBack = try await eventually(timeout: .seconds(30)) {
            let (a, b) = (try await queue.task(id: first), try await queue.task(id: second))
            return a.status == .queued && b.status == .queued
        }
        guard handedBack else {
            Issue.record("not handed back: \(try await queue.task(id: first)), \(try await queue.task(id: second))")
            return
        }
        try await running.value
        for id in [first, second] {
            #expect(try await queue.logs(taskID: id).map(\.event) == [.enqueued, .claimed, .released])
        }
    }
}

/// A SQLite store that records every settlement, whose readiness read can always fail, and
/// which can run `afterClaim` between committing a claim that took tasks and answering it.
final class InterposedStore: TaskStore, LeaseStore, ReadinessStore {
    let base: SQLiteStore
    let looksFail: Bool
    let afterClaim: (@Sendable () async -> Void)?
    let settled = Locked<[LeaseID]>([])
    let failedLooks = Atomic(0)

    init(base: SQLiteStore, looksFail: Bool = false, afterClaim: (@Sendable () async -> Void)? = nil) {
        self.base = base
        self.looksFail = looksFail
        self.afterClaim = afterClaim
    }

    func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration? {
        guard looksFail else { return try await base.timeUntilReady(capabilities: capabilities) }
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
        let result = try await base.settle(settlements, retryPolicy: retryPolicy, thenClaim: request)
        if !result.leases.isEmpty { await afterClaim?() }
        return result
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
