import Foundation
import GRDB
import PrismQ

extension SQLiteStore {
    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        try await write { [self] db in
            let now = nowMillis
            let expiry = now + TaskRow.millis(duration)
            var workers = Set<String>()
            let renewals = try leases.map { lease in
                guard
                    let row = try Row.fetchOne(
                        db.cachedStatement(sql: LeaseSQL.renew), arguments: [expiry, lease.taskID, lease.token]
                    )
                else { return LeaseRenewal.lost }
                if let worker: String = row[1] { workers.insert(worker) }
                return LeaseRenewal.renewed(expiresAt: TaskRow.date(expiry)!, cancelRequested: row[0])
            }
            for worker in workers {
                try db.cachedStatement(sql: LeaseSQL.touchWorker).execute(arguments: [now, worker])
            }
            return renewals
        }
    }

    public func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        try await write { [self] db in try Self.complete(lease, result: result, now: nowMillis, db: db) }
    }

    public func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask {
        try await write { [self] db in
            try Self.fail(lease, error: error, retryable: retryable, retryPolicy: retryPolicy, now: nowMillis, db: db)
        }
    }

    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        try await write { [self] db in try Self.release(lease, now: nowMillis, db: db) }
    }

    public func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        let claim = request.map(PreparedClaim.init)
        if let request { try await prepare(for: request.strategy) }
        return try await write { [self] db in
            let now = nowMillis
            let outcomes = try Self.settle(settlements, retryPolicy: retryPolicy, now: now, db: db)
            let leases = try claim.map { try Self.claim($0, now: now, db: db) } ?? []
            return SettleResult(outcomes: outcomes, leases: leases)
        }
    }

    public func requeueExpired(limit: Int) async throws(QueueError) -> Int {
        return try await write { [self] db in
            let now = nowMillis
            let expired = try TaskRow.fetchAll(
                db.cachedStatement(sql: LeaseSQL.expired), arguments: [now, max(1, limit)]
            )
            for task in expired {
                try Self.apply(.expired(task, now: now), to: task, now: now, db: db)
            }
            return expired.count
        }
    }

    /// Settles in order; the completions share one statement when every lease appears once.
    /// A settlement refused for its lease (`leaseLost`, or `notFound` for a task that is gone)
    /// changes nothing, and its neighbours go on.
    private static func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, now: Int64, db: Database
    ) throws -> [Result<QueueTask, QueueError>] {
        var outcomes = [Result<QueueTask, QueueError>?](repeating: nil, count: settlements.count)
        let completions = LeaseEnding.batchedCompletions(settlements)
        let completed = try complete(completions.map { ($0.lease, $0.result) }, now: now, db: db)
        for (index, lease, _) in completions {
            outcomes[index] = try completed[lease].map { .success($0) } ?? .failure(leaseLost(lease, db: db))
        }
        for (index, settlement) in settlements.enumerated() where outcomes[index] == nil {
            do {
                outcomes[index] = .success(try settle(settlement, retryPolicy: retryPolicy, now: now, db: db))
            } catch let error as QueueError where error.code != .storage && error.code != .busy {
                outcomes[index] = .failure(error)
            }
        }
        return outcomes.map { $0! }
    }

    /// Completes the tasks whose lease is current, in one statement, and logs them. Results
    /// are matched to leases by token, so a stale lease of a task never lends it its result.
    /// - Returns: the completed tasks by the lease that completed them.
    private static func complete(
        _ completions: [(LeaseID, RawJSON?)], now: Int64, db: Database
    ) throws -> [LeaseID: QueueTask] {
        guard !completions.isEmpty else { return [:] }
        let leases = JSONText.array(completions.map { lease, _ in "[\(lease.taskID),\(lease.token)]" })
        let held = try TaskRow.fetchAll(db.cachedStatement(sql: LeaseSQL.holders), arguments: [leases])
        guard !held.isEmpty else { return [:] }
        let results = Dictionary(completions.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
        let done = held.map { task in
            let lease = LeaseID(taskID: task.id, token: task.leaseToken ?? 0)
            var task = task
            task.status = .completed
            task.completedAt = TaskRow.date(now)
            task.result = results[lease] ?? nil
            task.leaseToken = nil
            task.leaseExpiresAt = nil
            return (lease, task)
        }
        let rows = done.map { _, task in "[\(task.id),\(task.result.map { JSONText.quoted($0.text) } ?? "null")]" }
        try db.cachedStatement(sql: LeaseSQL.completeAll).execute(arguments: [now, JSONText.array(rows)])
        let ids = JSONText.array(held.map { String($0.id) })
        try db.cachedStatement(sql: LeaseSQL.logCompletions).execute(arguments: [now, ids])
        // The rows as they are now, built here rather than read back.
        return Dictionary(done, uniquingKeysWith: { first, _ in first })
    }

    private static func settle(
        _ settlement: Settlement, retryPolicy: RetryPolicy, now: Int64, db: Database
    ) throws -> QueueTask {
        switch settlement.outcome {
        case .completed(let result):
            try complete(settlement.lease, result: result, now: now, db: db)
        case .failed(let error, let retryable):
            try fail(settlement.lease, error: error, retryable: retryable, retryPolicy: retryPolicy, now: now, db: db)
        case .released:
            try release(settlement.lease, now: now, db: db)
        }
    }

    /// Completes one task while the lease is current (through the statements of a batch).
    private static func complete(_ lease: LeaseID, result: RawJSON?, now: Int64, db: Database) throws -> QueueTask {
        guard let task = try complete([(lease, result)], now: now, db: db)[lease] else {
            throw try leaseLost(lease, db: db)
        }
        return task
    }

    private static func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy, now: Int64, db: Database
    ) throws -> QueueTask {
        let task = try holder(of: lease, db: db)
        let ending = LeaseEnding.failed(task, error: error, retryable: retryable, retryPolicy: retryPolicy, now: now)
        try apply(ending, to: task, now: now, db: db)
        return try fetchTask(id: lease.taskID, db: db)
    }

    private static func release(_ lease: LeaseID, now: Int64, db: Database) throws -> QueueTask {
        let task = try holder(of: lease, db: db)
        try apply(.released(task, now: now), to: task, now: now, db: db)
        return try fetchTask(id: lease.taskID, db: db)
    }

    /// Ends or requeues a running task as `ending` says, and writes its history row.
    private static func apply(_ ending: LeaseEnding, to task: QueueTask, now: Int64, db: Database) throws {
        switch ending.action {
        case .finish(let status):
            try db.cachedStatement(sql: LeaseSQL.finish).execute(arguments: [
                status.rawValue, now, ending.error, task.id,
            ])
        case .requeue(let runAfter, let attempts):
            try requeue(task, runAfter: runAfter, attempts: attempts, error: ending.error, db: db)
        }
        try appendLog(
            taskID: task.id, event: ending.event, at: now, workerID: task.claimedBy, message: ending.message, db: db)
    }

    /// The running task this lease holds, or `leaseLost` / `notFound`.
    private static func holder(of lease: LeaseID, db: Database) throws -> QueueTask {
        if let task = try TaskRow.fetchOne(
            db.cachedStatement(sql: LeaseSQL.holder), arguments: [lease.taskID, lease.token]
        ) {
            return task
        }
        throw try leaseLost(lease, db: db)
    }

    /// The error for a lease that is not current: `leaseLost`, or `notFound` for an unknown task.
    private static func leaseLost(_ lease: LeaseID, db: Database) throws -> QueueError {
        do {
            let task = try fetchTask(id: lease.taskID, db: db)
            return QueueError(
                .leaseLost, "The lease on task \(lease.taskID) is no longer held (the task is \(task.status)).")
        } catch let error as QueueError where error.code == .notFound {
            return error
        }
    }

    /// Puts a running task back to `queued` with a fresh scheduling key.
    private static func requeue(
        _ task: QueueTask, runAfter: Int64, attempts: Int, error: String?, db: Database
    )
        throws
    {
        let key = SchedulingKey.make(priority: task.priority, virtualTime: try SchedulingKey.virtualTime(db))
        try db.cachedStatement(sql: LeaseSQL.requeue).execute(arguments: [runAfter, attempts, error, key, task.id])
    }
}

/// The statements of lease holders and the sweeper.
enum LeaseSQL {
    static let holder = "SELECT \(TaskRow.columns) FROM tasks WHERE id = ? AND lease_token = ? AND status = 'running'"
    static let renew = """
        UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'
        RETURNING cancel_requested, claimed_by
        """
    static let touchWorker = "UPDATE workers SET last_heartbeat_at = ?, stopped_at = NULL WHERE id = ?"
    /// The running tasks of a JSON array of `[id, token]` whose token is current.
    static let holders = """
        SELECT \(TaskRow.qualifiedColumns) FROM json_each(?) AS lease CROSS JOIN tasks
        WHERE tasks.id = lease.value ->> 0 AND tasks.lease_token = lease.value ->> 1 AND tasks.status = 'running'
        """
    /// Completes the tasks of a JSON array of `[id, result]` (their holders, just checked).
    /// Arguments: now, the array.
    static let completeAll = """
        UPDATE tasks SET status = 'completed', completed_at = ?1, result = done.done_result, lease_token = NULL,
                         lease_expires_at = NULL
        FROM (SELECT value ->> 0 AS done_id, value ->> 1 AS done_result FROM json_each(?2)) AS done
        WHERE tasks.id = done.done_id
        """
    /// A `completed` history row for each task of a JSON array of ids. Arguments: now, the ids.
    static let logCompletions = """
        INSERT INTO task_logs (task_id, event, at, worker_id)
        SELECT id, 'completed', ?1, claimed_by FROM tasks WHERE id IN (SELECT value FROM json_each(?2))
        """
    static let finish = """
        UPDATE tasks SET status = ?, completed_at = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL
        WHERE id = ?
        """
    static let requeue = """
        UPDATE tasks SET status = 'queued', run_after = ?, attempts = ?, last_error = ?, sched_key = ?,
                         lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
        WHERE id = ?
        """
    static let expired = """
        SELECT \(TaskRow.columns) FROM tasks INDEXED BY tasks_running_by_lease
        WHERE status = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?
        """
}
