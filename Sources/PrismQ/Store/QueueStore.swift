/// Where tasks live: the one interface every backend (SQLite, PostgreSQL) implements.
///
/// Every method is one short transaction. A method that throws changed nothing. Errors are
/// always ``QueueError``s.
public protocol QueueStore: Sendable {
    /// Stores new tasks, all or none. A task whose idempotency key already names a task (or
    /// an earlier task of the same batch) is not created: its result carries the existing task.
    ///
    /// - Throws: `invalidArgument` or `payloadTooLarge` for a task that breaks the contract
    ///   (nothing is stored), `busy`, `storage`.
    func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult]

    /// The task with this id.
    ///
    /// - Throws: `notFound` when no task has it.
    func task(id: Int64) async throws(QueueError) -> QueueTask

    /// One page of tasks matching `filter`, newest first.
    ///
    /// - Throws: `invalidArgument` for a limit outside 1–1000.
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

    /// A task's history, oldest first.
    ///
    /// - Throws: `notFound` when no task has this id.
    func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry]

    /// Every worker the registry knows, most recently seen first.
    func workers() async throws(QueueError) -> [WorkerInfo]

    /// The connection pool's counters.
    var statistics: StoreStatistics { get }
}
