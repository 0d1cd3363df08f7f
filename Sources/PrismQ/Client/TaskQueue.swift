import Foundation

/// The one door to a PrismQ queue: enqueue, look at and manage tasks, and (for workers)
/// claim and settle them.
///
/// Every entry point (Swift API, ``WorkerPool``, the HTTP server, the CLI) goes through it:
/// it checks arguments against the contract's limits, applies the retry policy, and records
/// metrics of task events; its store only persists. Pick the store with a static member:
/// ```swift
/// let queue = TaskQueue(store: try .sqlite(path: "queue.db"))
/// ```
public struct TaskQueue: Sendable {
    /// The limits and retry policy the queue applies.
    public let configuration: TaskQueueConfiguration

    let taskStore: any TaskStore
    let leaseStore: any LeaseStore
    let registryStore: (any WorkerRegistryStore)?
    let readinessStore: (any ReadinessStore)?
    let maintenanceStore: (any MaintenanceStore)?
    let transferStore: (any TransferStore)?

    /// Wakes the worker pools of this queue when a task is enqueued through it.
    package let wakeups = WakeupBroadcaster()

    /// A queue over a store that plays every role (a SQLite store today).
    public init(store: some QueueStore, configuration: TaskQueueConfiguration = TaskQueueConfiguration()) {
        self.init(roles: store, configuration: configuration)
    }

    /// A queue over a store that offers producing and leasing, and whichever other roles it
    /// has (a remote server offers only those two): see ``WorkerRegistryStore``,
    /// ``ReadinessStore`` and ``MaintenanceStore`` for what the queue does without each.
    public init(
        store: some TaskStore & LeaseStore, configuration: TaskQueueConfiguration = TaskQueueConfiguration()
    ) {
        self.init(roles: store, configuration: configuration)
    }

    /// Finds the roles `store` plays beyond producing and leasing.
    private init(
        roles store: some TaskStore & LeaseStore, configuration: TaskQueueConfiguration = TaskQueueConfiguration()
    ) {
        self.configuration = configuration
        taskStore = store
        leaseStore = store
        registryStore = store as? any WorkerRegistryStore
        readinessStore = store as? any ReadinessStore
        maintenanceStore = store as? any MaintenanceStore
        transferStore = store as? any TransferStore
    }

    /// The store the queue works on, for what only that kind of store offers (a SQLite
    /// server's backups).
    package var store: any TaskStore { taskStore }

    /// The limits tasks and results are checked against.
    public var limits: TaskValidation { configuration.limits }

    /// Enqueues one task.
    ///
    /// - Returns: the stored task, and whether it was created (`false` when its idempotency key
    ///   already named a task, which is returned instead).
    /// - Throws: `invalidArgument` or `payloadTooLarge` for a task that breaks the contract.
    @discardableResult
    public func enqueue(_ task: NewTask) async throws(QueueError) -> EnqueueResult {
        try await enqueue(batch: [task])[0]
    }

    /// Enqueues 1–1000 tasks in one transaction: all are stored, or none.
    ///
    /// - Throws: `invalidArgument` or `payloadTooLarge` for a batch with any task that breaks
    ///   the contract (nothing is stored), `busy`, `storage`.
    @discardableResult
    public func enqueue(batch tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        try limits.validate(batch: tasks)
        let results = try await taskStore.enqueue(tasks)
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
        try await taskStore.task(id: id)
    }

    /// One page of tasks, newest first.
    ///
    /// - Throws: `invalidArgument` for a limit outside 1–1000 or an invalid type.
    public func tasks(
        matching filter: TaskFilter = TaskFilter(), page: PageRequest = PageRequest()
    )
        async throws(QueueError) -> TaskPage
    {
        try TaskValidation.validate(page)
        if let type = filter.type {
            try TaskValidation.validateType(type)
        }
        return try await taskStore.tasks(matching: filter, page: page)
    }

    /// Cancels a task: a queued task becomes `cancelled`; a running one is marked, and ends
    /// `cancelled` when its worker stops.
    ///
    /// - Throws: `notFound`; `conflict` when the task has already finished.
    @discardableResult
    public func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        let task = try await taskStore.cancel(id: id)
        QueueMetrics.cancelled(task)
        return task
    }

    /// Re-queues a `dead` or `cancelled` task with a fresh attempt budget.
    ///
    /// - Throws: `notFound`; `conflict` for a task in any other state.
    @discardableResult
    public func retry(id: Int64) async throws(QueueError) -> QueueTask {
        let task = try await taskStore.retry(id: id)
        wakeups.notifyAll()
        return task
    }

    /// The queue's counts, ages and throughput.
    public func stats() async throws(QueueError) -> QueueStats {
        try await taskStore.stats()
    }

    /// Completions and failed attempts per minute over the last `minutes` (1–1440) minutes.
    public func throughput(minutes: Int = 30) async throws(QueueError) -> [ThroughputBucket] {
        guard TaskValidation.throughputMinutesRange.contains(minutes) else {
            throw QueueError(.invalidArgument, "minutes must be between 1 and 1440.")
        }
        return try await taskStore.throughput(minutes: minutes)
    }

    /// A task's history, oldest first.
    public func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        try await taskStore.logs(taskID: taskID)
    }

    /// The worker registry, most recently seen first.
    public func workers() async throws(QueueError) -> [WorkerInfo] {
        try await taskStore.workers()
    }
}
