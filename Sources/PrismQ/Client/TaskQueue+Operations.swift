import Foundation

/// The parts of the door that depend on a store's optional roles: the worker registry, the
/// readiness hints idle workers wait on, and maintenance. Each says what it does when the
/// store lacks the role.
extension TaskQueue {
    // MARK: Registry

    /// Adds the worker to the registry, or marks it started again. Without a registry role
    /// (a remote server, whose claims register their worker) it does nothing.
    ///
    /// - Throws: `invalidArgument` for an invalid id or capabilities.
    public func register(_ worker: WorkerRegistration) async throws(QueueError) {
        try TaskValidation.validateWorkerID(worker.id)
        try TaskValidation.validateCapabilities(worker.capabilities)
        try await registryStore?.register(worker)
    }

    /// Records that the worker is alive (a lease renewal does too). Without a registry role it
    /// does nothing.
    public func workerHeartbeat(id: String) async throws(QueueError) {
        try await registryStore?.workerHeartbeat(id: id)
    }

    /// Marks the worker `stopped`. Without a registry role it does nothing.
    public func workerStopped(id: String) async throws(QueueError) {
        try await registryStore?.workerStopped(id: id)
    }

    // MARK: Readiness

    /// How long until the earliest queued task of these types (any type when empty) is ready:
    /// `.zero` when one is ready now, `nil` when none is queued or the store cannot tell.
    ///
    /// - Throws: `invalidArgument` for an invalid type.
    public func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration? {
        try TaskValidation.validateCapabilities(capabilities)
        return try await readinessStore?.timeUntilReady(capabilities: Array(Set(capabilities)).sorted())
    }

    /// Calls `onCommit` soon after each commit to the store by any process, until the watch is
    /// cancelled; `nil` when the store cannot tell (workers then poll).
    public func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        readinessStore?.watchCommits(onCommit)
    }

    // MARK: Maintenance

    /// Whether the store can be maintained from here (a remote queue is maintained by its
    /// server).
    public var isMaintainable: Bool { maintenanceStore != nil }

    /// The store's connection counters; zero for a store without the maintenance role.
    public var statistics: StoreStatistics {
        maintenanceStore?.statistics
            ?? StoreStatistics(readConnections: 0, writeConnections: 0, reads: 0, writes: 0, waits: 0, errors: 0)
    }

    /// Returns tasks whose lease ran out to `queued` (or `dead` / `cancelled`), at most `limit`.
    ///
    /// - Returns: how many tasks it moved.
    /// - Throws: `invalidArgument` for a limit below 1 or a store that is not maintained here.
    public func requeueExpired(limit: Int) async throws(QueueError) -> Int {
        guard limit >= 1 else { throw QueueError(.invalidArgument, "The sweep limit must be at least 1.") }
        let moved = try await maintainedStore().requeueExpired(limit: limit)
        QueueMetrics.leasesExpired(moved)
        return moved
    }

    /// Deletes finished tasks that finished before `cutoff`, with their history, at most
    /// `limit` in one transaction (see ``MaintenanceStore/purge(finishedBefore:limit:)``).
    ///
    /// - Throws: `invalidArgument` for a limit below 1 or a store that is not maintained here.
    public func purge(finishedBefore cutoff: Date, limit: Int) async throws(QueueError) -> Int {
        guard limit >= 1 else { throw QueueError(.invalidArgument, "The purge limit must be at least 1.") }
        return try await maintainedStore().purge(finishedBefore: cutoff, limit: limit)
    }

    /// Deletes the tasks `selection` names, with their history, at most `limit` in one
    /// transaction (see ``MaintenanceStore/purge(_:limit:)``).
    ///
    /// - Throws: `invalidArgument` for a limit below 1, a selection of unfinished tasks or a
    ///   bad type, or a store that is not maintained here.
    public func purge(_ selection: PurgeSelection, limit: Int) async throws(QueueError) -> Int {
        guard limit >= 1 else { throw QueueError(.invalidArgument, "The purge limit must be at least 1.") }
        try selection.validate()
        return try await maintainedStore().purge(selection, limit: limit)
    }

    /// How many tasks `selection` names now: what ``purge(_:limit:)`` would delete.
    ///
    /// - Throws: as ``purge(_:limit:)``.
    public func countPurgeable(_ selection: PurgeSelection) async throws(QueueError) -> Int {
        try selection.validate()
        return try await maintainedStore().countPurgeable(selection)
    }

    /// Deletes what `selection` names in transactions of at most `batch` tasks until nothing
    /// is left, so that no purge holds the write lock for long.
    ///
    /// - Returns: how many tasks it deleted.
    public func purgeAll(_ selection: PurgeSelection, batch: Int = 1000) async throws(QueueError) -> Int {
        var deleted = 0
        while true {
            let count = try await purge(selection, limit: batch)
            deleted += count
            if count < batch { return deleted }
        }
    }

    /// Records `policy` as the retention applied at `date` (what `prismq check` shows).
    ///
    /// - Throws: `invalidArgument` for a store that is not maintained here.
    public func recordRetention(_ policy: RetentionPolicy, at date: Date) async throws(QueueError) {
        try await maintainedStore().recordRetention(policy, at: date)
    }

    /// The retention a maintenance round last recorded; `nil` when none has.
    ///
    /// - Throws: `invalidArgument` for a store that is not maintained here.
    public func recordedRetention() async throws(QueueError) -> RecordedRetention? {
        try await maintainedStore().recordedRetention()
    }

    /// The store's housekeeping (SQLite: a passive WAL checkpoint and `PRAGMA optimize`).
    ///
    /// - Throws: `invalidArgument` for a store that is not maintained here.
    public func maintain() async throws(QueueError) {
        try await maintainedStore().maintain()
    }

    private func maintainedStore() throws(QueueError) -> any MaintenanceStore {
        guard let maintenanceStore else {
            throw QueueError(
                .invalidArgument, "This queue is maintained by its server (a remote store has no maintenance role).")
        }
        return maintenanceStore
    }
}

// MARK: Copying a whole queue

extension TaskQueue {
    /// Whether the whole queue can be copied out of and into this store (see ``TransferStore``).
    public var isTransferable: Bool { transferStore != nil }

    /// Up to `limit` tasks whose id is above `id`, in id order, with their history.
    ///
    /// - Throws: `invalidArgument` for a limit outside 1–10,000 or a store that cannot be copied.
    public func exportTasks(after id: Int64, limit: Int) async throws(QueueError) -> [TaskRecord] {
        guard (1...10_000).contains(limit) else {
            throw QueueError(.invalidArgument, "An export batch holds 1 to 10,000 tasks.")
        }
        return try await transferableStore().exportTasks(after: id, limit: limit)
    }

    /// Stores `records` as they are, ids kept; records already stored are left alone.
    ///
    /// - Returns: how many were stored.
    /// - Throws: `conflict` when an idempotency key belongs to another task here (nothing of
    ///   the batch is stored); `invalidArgument` for a store that cannot be copied into.
    public func importTasks(_ records: [TaskRecord]) async throws(QueueError) -> Int {
        guard !records.isEmpty else { return 0 }
        return try await transferableStore().importTasks(records)
    }

    /// The worker registry, as stored.
    public func exportWorkers() async throws(QueueError) -> [WorkerRecord] {
        try await transferableStore().exportWorkers()
    }

    /// Adds `workers` to the registry, replacing entries with the same id.
    public func importWorkers(_ workers: [WorkerRecord]) async throws(QueueError) {
        guard !workers.isEmpty else { return }
        try await transferableStore().importWorkers(workers)
    }

    private func transferableStore() throws(QueueError) -> any TransferStore {
        guard let transferStore else {
            throw QueueError(
                .invalidArgument, "This store cannot be copied whole; use a SQLite file or a PostgreSQL database.")
        }
        return transferStore
    }
}
