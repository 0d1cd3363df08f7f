import Foundation

/// The producer's and administrator's role of a store: it keeps tasks, their history and the
/// registry's view, and answers questions about them.
///
/// Stores only persist: ``TaskQueue`` checks every argument against the contract's limits
/// before a store sees it, so a store may take its input as valid. Every method is one short
/// transaction; a method that throws changed nothing. Errors are always ``QueueError``s.
public protocol TaskStore: Sendable {
    /// Stores new tasks, all or none. A task whose idempotency key already names a task (or
    /// an earlier task of the same batch) is not created: its result carries the existing task.
    ///
    /// - Throws: `busy`, `storage`.
    func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult]

    /// The task with this id.
    ///
    /// - Throws: `notFound` when no task has it.
    func task(id: Int64) async throws(QueueError) -> QueueTask

    /// One page of tasks matching `filter`, newest first.
    func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage

    /// Cancels a task: a queued task becomes `cancelled`; a running one is marked, and ends
    /// `cancelled` when its worker stops.
    ///
    /// - Throws: `notFound`; `conflict` when the task has already finished.
    func cancel(id: Int64) async throws(QueueError) -> QueueTask

    /// Puts a `dead` or `cancelled` task back to `queued` with a fresh attempt budget.
    ///
    /// - Throws: `notFound`; `conflict` for a task in any other state.
    func retry(id: Int64) async throws(QueueError) -> QueueTask

    /// Counts by status and type, the oldest ready task's age, throughput and workers.
    func stats() async throws(QueueError) -> QueueStats

    /// Completions and failed attempts per minute over the last `minutes` minutes (1–1440),
    /// oldest first, one bucket per minute including empty ones.
    func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket]

    /// A task's history, oldest first.
    ///
    /// - Throws: `notFound` when no task has this id.
    func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry]

    /// Every worker the registry knows, most recently seen first.
    func workers() async throws(QueueError) -> [WorkerInfo]
}
