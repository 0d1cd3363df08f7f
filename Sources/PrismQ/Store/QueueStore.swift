import Foundation

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

    /// Completions and failed attempts per minute over the last `minutes` minutes (1–1440),
    /// oldest first, one bucket per minute including empty ones.
    func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket]

    /// A task's history, oldest first.
    ///
    /// - Throws: `notFound` when no task has this id.
    func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry]

    /// Deletes finished tasks (`completed`, `dead`, `cancelled`) that finished before `cutoff`,
    /// with their history, at most `limit` in one transaction; their idempotency keys are free
    /// again afterwards.
    ///
    /// - Returns: how many tasks it deleted.
    func purge(finishedBefore cutoff: Date, limit: Int) async throws(QueueError) -> Int

    /// Housekeeping the store wants now and then (SQLite: a passive WAL checkpoint and
    /// `PRAGMA optimize`).
    func maintain() async throws(QueueError)

    /// Every worker the registry knows, most recently seen first.
    func workers() async throws(QueueError) -> [WorkerInfo]

    /// The connection pool's counters.
    var statistics: StoreStatistics { get }

    // MARK: Workers

    /// Moves up to `request.maxTasks` ready tasks (queued, `runAfter` passed, of the worker's
    /// types when it names any) to `running` in one transaction, each under a fresh lease and
    /// fencing token, picked by the request's strategy. Registers or refreshes the worker.
    func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease]

    /// Extends each lease by `duration` from now; a lease whose token is no longer current
    /// comes back `.lost` and nothing changes for it.
    func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal]

    /// Completes the task, while the token is current.
    ///
    /// - Throws: `leaseLost` (nothing changes) when it is not; `notFound` for an unknown task.
    func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask

    /// Fails the attempt, while the token is current: the task is queued again after
    /// `retryDelay`, or goes to `dead` when out of attempts, when `retryDelay` is `nil` or when
    /// `retryable` is `false`; a task whose cancellation was asked for ends `cancelled`.
    ///
    /// - Throws: `leaseLost` (nothing changes) when the token is not current.
    func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryDelay: Duration?
    ) async throws(QueueError)
        -> QueueTask

    /// Hands the task back to `queued` without spending the attempt (graceful shutdown).
    ///
    /// - Throws: `leaseLost` when the token is not current.
    func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask

    /// Records each settlement's outcome, then claims as `request` asks (when given), in one
    /// transaction where the store can: a busy worker's steady state is one write per round,
    /// however many tasks it finishes and starts.
    ///
    /// - Returns: each settlement's task afterwards or its own error, and the new leases.
    /// - Throws: only when nothing changed (`invalidArgument` for the request, `busy`, `storage`).
    func settle(_ settlements: [Settlement], thenClaim request: ClaimRequest?) async throws(QueueError) -> SettleResult

    /// Returns tasks whose lease ran out to `queued` (or `dead` when out of attempts, or
    /// `cancelled` when cancellation was asked for), at most `limit` at once.
    ///
    /// - Returns: how many tasks it moved. Safe to run in several processes at once.
    func requeueExpired(limit: Int) async throws(QueueError) -> Int

    /// How long until the earliest queued task of these types (any type when empty) is
    /// ready: `.zero` when one is ready now, `nil` when none is queued. A cheap read that tells
    /// a worker whether to claim or to sleep.
    func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration?

    /// Calls `onCommit` soon after a commit to the store by any connection, another
    /// process's included, until the watch is cancelled: how an idle worker learns of a task
    /// enqueued elsewhere without polling the tasks. `nil` when the store cannot tell.
    func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch?

    /// Adds the worker to the registry, or marks it started again.
    func register(_ worker: WorkerRegistration) async throws(QueueError)

    /// Records that the worker is alive.
    func workerHeartbeat(id: String) async throws(QueueError)

    /// Marks the worker `stopped` (graceful shutdown).
    func workerStopped(id: String) async throws(QueueError)
}

extension QueueStore {
    /// No watch: workers of such a store find other processes' tasks by polling.
    public func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        nil
    }

    /// Settles one lease at a time, then claims: for stores that cannot share a transaction.
    public func settle(
        _ settlements: [Settlement], thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        try request?.validate()
        var outcomes: [Result<QueueTask, QueueError>] = []
        for settlement in settlements {
            do throws(QueueError) {
                let lease = settlement.lease
                switch settlement.outcome {
                case .completed(let result):
                    outcomes.append(.success(try await complete(lease, result: result)))
                case .failed(let error, let retryable, let retryDelay):
                    outcomes.append(
                        .success(try await fail(lease, error: error, retryable: retryable, retryDelay: retryDelay)))
                case .released:
                    outcomes.append(.success(try await release(lease)))
                }
            } catch  where error.code == .leaseLost || error.code == .notFound || error.code == .payloadTooLarge {
                outcomes.append(.failure(error))
            }
        }
        guard let request else { return SettleResult(outcomes: outcomes, leases: []) }
        return SettleResult(outcomes: outcomes, leases: try await claim(request))
    }

    /// Renews one lease.
    ///
    /// - Returns: the new expiry and whether cancellation was asked for.
    /// - Throws: `leaseLost` when the token is no longer current.
    public func renew(
        _ lease: LeaseID, for duration: Duration
    ) async throws(QueueError) -> (
        expiresAt: Date, cancelRequested: Bool
    ) {
        let renewals = try await renew([lease], for: duration)
        guard case .renewed(let expiresAt, let cancelRequested) = renewals.first else {
            throw QueueError(.leaseLost, "The lease on \(lease) is no longer held.")
        }
        return (expiresAt, cancelRequested)
    }
}
