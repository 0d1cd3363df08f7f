import Foundation

/// The client of a PrismQ queue: enqueue, look at and manage tasks.
///
/// A thin facade over a ``QueueStore``; pick the store with a static member:
/// ```swift
/// let queue = TaskQueue(store: try .sqlite(path: "queue.db"))
/// ```
public struct TaskQueue: Sendable {
    /// The store the queue reads and writes.
    public let store: any QueueStore

    /// Wakes the worker pools of this queue when a task is enqueued through it.
    package let wakeups = WakeupBroadcaster()

    /// A queue over `store`.
    public init(store: some QueueStore) {
        self.store = store
    }

    /// Enqueues one task.
    ///
    /// - Returns: the stored task, and whether it was created (`false` when its idempotency key
    ///   already named a task, which is returned instead).
    /// - Throws: `invalidArgument` or `payloadTooLarge` for a task that breaks the contract.
    @discardableResult
    public func enqueue(_ task: NewTask) async throws(QueueError) -> EnqueueResult {
        let results = try await store.enqueue([task])
        wakeups.notifyAll()
        QueueMetrics.enqueued(results)
        return results[0]
    }

    /// Enqueues 1–1000 tasks in one transaction: all are stored, or none.
    @discardableResult
    public func enqueue(batch tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        let results = try await store.enqueue(tasks)
        wakeups.notifyAll()
        QueueMetrics.enqueued(results)
        return results
    }

    /// Enqueues a task whose payload is any `Encodable` value.
    ///
    /// ```swift
    /// try await queue.enqueue("email.send", payload: Email(to: "a@b.c"), priority: 5,
    ///                         delay: .seconds(10), idempotencyKey: "welcome-42")
    /// ```
    @discardableResult
    public func enqueue<Payload: Encodable & Sendable>(
        _ type: String,
        payload: Payload,
        priority: Int = 0,
        delay: Duration? = nil,
        runAfter: Date? = nil,
        maxAttempts: Int = 3,
        idempotencyKey: String? = nil,
        timeout: Duration? = nil
    ) async throws(QueueError) -> QueueTask {
        let task = NewTask(
            type: type,
            payload: try RawJSON(encoding: payload),
            priority: priority,
            runAfter: runAfter,
            delay: delay,
            maxAttempts: maxAttempts,
            idempotencyKey: idempotencyKey,
            timeout: timeout
        )
        return try await enqueue(task).task
    }

    /// The task with this id. Throws `notFound` when there is none.
    public func task(id: Int64) async throws(QueueError) -> QueueTask {
        try await store.task(id: id)
    }

    /// One page of tasks, newest first.
    public func tasks(
        matching filter: TaskFilter = TaskFilter(), page: PageRequest = PageRequest()
    )
        async throws(QueueError) -> TaskPage
    {
        try await store.tasks(matching: filter, page: page)
    }

    /// Cancels a task (see ``QueueStore/cancel(id:)``).
    @discardableResult
    public func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        let task = try await store.cancel(id: id)
        QueueMetrics.cancelled(task)
        return task
    }

    /// Re-queues a `dead` or `cancelled` task with a fresh attempt budget.
    @discardableResult
    public func retry(id: Int64) async throws(QueueError) -> QueueTask {
        try await store.retry(id: id)
    }

    /// The queue's counts, ages and throughput.
    public func stats() async throws(QueueError) -> QueueStats {
        try await store.stats()
    }

    /// Completions and failed attempts per minute over the last `minutes` minutes.
    public func throughput(minutes: Int = 30) async throws(QueueError) -> [ThroughputBucket] {
        try await store.throughput(minutes: minutes)
    }

    /// A task's history, oldest first.
    public func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        try await store.logs(taskID: taskID)
    }

    /// The worker registry.
    public func workers() async throws(QueueError) -> [WorkerInfo] {
        try await store.workers()
    }

    // MARK: Workers

    /// Claims ready tasks (see ``QueueStore/claim(_:)``).
    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        let leases = try await store.claim(request)
        QueueMetrics.claimed(leases)
        return leases
    }

    /// Extends leases (see ``QueueStore/renew(_:for:)``).
    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        try await store.renew(leases, for: duration)
    }

    /// Completes a task while its lease is held (see ``QueueStore/complete(_:result:)``).
    @discardableResult
    public func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        let task = try await store.complete(lease, result: result)
        QueueMetrics.finished(task, attemptFailed: false)
        return task
    }

    /// Fails an attempt while its lease is held (see ``QueueStore/fail(_:error:retryable:retryDelay:)``).
    @discardableResult
    public func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryDelay: Duration?
    ) async throws(QueueError)
        -> QueueTask
    {
        let task = try await store.fail(lease, error: error, retryable: retryable, retryDelay: retryDelay)
        QueueMetrics.finished(task, attemptFailed: true)
        return task
    }

    /// Records finished leases and claims more in one round (see
    /// ``QueueStore/settle(_:thenClaim:)``).
    public func settle(
        _ settlements: [Settlement], thenClaim request: ClaimRequest?
    ) async throws(QueueError)
        -> SettleResult
    {
        let result = try await store.settle(settlements, thenClaim: request)
        for (settlement, outcome) in zip(settlements, result.outcomes) {
            guard case .success(let task) = outcome else { continue }
            if case .failed = settlement.outcome {
                QueueMetrics.finished(task, attemptFailed: true)
            } else {
                QueueMetrics.finished(task, attemptFailed: false)
            }
        }
        QueueMetrics.claimed(result.leases)
        return result
    }

    /// Hands a task back without spending the attempt (see ``QueueStore/release(_:)``).
    @discardableResult
    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        let task = try await store.release(lease)
        QueueMetrics.finished(task, attemptFailed: false)
        return task
    }
}
