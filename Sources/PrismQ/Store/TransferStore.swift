import Foundation

/// The role of a store that a whole queue can be copied out of and into (`prismq migrate`):
/// every task as stored, with its history, ids kept, and the worker registry. SQLite and
/// PostgreSQL stores play it; a remote server does not.
public protocol TransferStore: Sendable {
    /// Up to `limit` (≥ 1) tasks whose id is above `id`, in id order, each with its history.
    func exportTasks(after id: Int64, limit: Int) async throws(QueueError) -> [TaskRecord]

    /// Stores `records` as they are — ids, states, attempts, leases, errors, results,
    /// idempotency keys and history — in one transaction. A record the store already holds (the
    /// same id, type, creation time and payload) is left alone, so an interrupted copy can be
    /// run again.
    ///
    /// - Returns: how many records were stored (the others were there already).
    /// - Throws: `conflict` when a record's idempotency key, or its id, belongs to another task
    ///   here; nothing of the batch is stored then.
    func importTasks(_ records: [TaskRecord]) async throws(QueueError) -> Int

    /// Every worker in the registry, as stored.
    func exportWorkers() async throws(QueueError) -> [WorkerRecord]

    /// Adds `workers` to the registry, replacing entries with the same id.
    func importWorkers(_ workers: [WorkerRecord]) async throws(QueueError)
}

/// A task as a store holds it, with its history: what ``TransferStore`` copies.
public struct TaskRecord: Sendable, Hashable {
    /// The task, every field as stored.
    public var task: QueueTask
    /// Its history, oldest first (the entries' own ids are not kept).
    public var logs: [TaskLogEntry]

    /// A task and its history.
    public init(task: QueueTask, logs: [TaskLogEntry]) {
        self.task = task
        self.logs = logs
    }
}

/// A worker registry entry as stored.
public struct WorkerRecord: Sendable, Hashable {
    /// Who the worker said it is.
    public var registration: WorkerRegistration
    /// When it registered.
    public var startedAt: Date
    /// Its last heartbeat.
    public var lastHeartbeatAt: Date
    /// When it stopped; `nil` while it runs (or died without saying).
    public var stoppedAt: Date?

    /// A registry entry.
    public init(registration: WorkerRegistration, startedAt: Date, lastHeartbeatAt: Date, stoppedAt: Date?) {
        self.registration = registration
        self.startedAt = startedAt
        self.lastHeartbeatAt = lastHeartbeatAt
        self.stoppedAt = stoppedAt
    }
}

extension QueueError {
    /// The error of a copy into a store that holds another task under a copied task's id.
    package static func anotherTaskHolds(id: Int64) -> QueueError {
        QueueError(.conflict, "This queue already holds another task with id \(id); copy into an empty queue.")
    }
}
