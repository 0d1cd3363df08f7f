import Foundation
import GRDB
import PrismQ

extension SQLiteStore {
    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        guard duration > .zero else { throw QueueError(.invalidArgument, "The lease must be longer than zero.") }
        return try await write { [self] db in
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
        let limit = configuration.validation.maxPayloadBytes
        if let result, result.byteCount > limit {
            throw QueueError(.payloadTooLarge, "The result is \(result.byteCount) bytes; the limit is \(limit).")
        }
        return try await write { [self] db in
            let now = nowMillis
            let holder = try Self.holder(of: lease, db: db)
            let row = try Row.fetchOne(
                db.cachedStatement(sql: LeaseSQL.complete), arguments: [now, result?.text, lease.taskID]
            )!
            try Self.appendLog(taskID: lease.taskID, event: .completed, at: now, workerID: holder.claimedBy, db: db)
            return TaskRow.decode(row)
        }
    }

    public func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryDelay: Duration?
    ) async throws(QueueError)
        -> QueueTask
    {
        let message = String(error.prefix(8192))
        return try await write { [self] db in
            let now = nowMillis
            let task = try Self.holder(of: lease, db: db)
            let outcome: String
            if task.cancelRequested {
                try Self.finish(lease.taskID, as: .cancelled, error: message, now: now, db: db)
                try Self.appendLog(
                    taskID: lease.taskID, event: .cancelled, at: now, workerID: task.claimedBy,
                    message: "stopped by its worker: \(message)", db: db
                )
                return try Self.fetchTask(id: lease.taskID, db: db)
            } else if let retryDelay, retryable, task.attempts < task.maxAttempts {
                let runAfter = now + TaskRow.millis(retryDelay)
                try Self.requeue(task, runAfter: runAfter, attempts: task.attempts, error: message, db: db)
                outcome = "retry at \(RFC3339.string(from: TaskRow.date(runAfter)!))"
            } else {
                try Self.finish(lease.taskID, as: .dead, error: message, now: now, db: db)
                outcome =
                    !retryable
                    ? "dead: not retryable"
                    : retryDelay == nil ? "dead: the retry policy does not retry" : "dead: out of attempts"
            }
            try Self.appendLog(
                taskID: lease.taskID, event: .failed, at: now, workerID: task.claimedBy,
                message: "\(outcome); \(message)", db: db
            )
            return try Self.fetchTask(id: lease.taskID, db: db)
        }
    }

    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        return try await write { [self] db in
            let now = nowMillis
            let task = try Self.holder(of: lease, db: db)
            if task.cancelRequested {
                try Self.finish(lease.taskID, as: .cancelled, error: "Cancelled while running.", now: now, db: db)
                try Self.appendLog(
                    taskID: lease.taskID, event: .cancelled, at: now, workerID: task.claimedBy,
                    message: "its worker shut down after cancellation was asked for", db: db
                )
                return try Self.fetchTask(id: lease.taskID, db: db)
            }
            try Self.requeue(task, runAfter: now, attempts: max(0, task.attempts - 1), error: task.lastError, db: db)
            try Self.appendLog(
                taskID: lease.taskID, event: .released, at: now, workerID: task.claimedBy,
                message: "handed back at shutdown; the attempt is not spent", db: db
            )
            return try Self.fetchTask(id: lease.taskID, db: db)
        }
    }

    public func requeueExpired(limit: Int) async throws(QueueError) -> Int {
        return try await write { [self] db in
            let now = nowMillis
            let expired = try Row.fetchAll(
                db.cachedStatement(sql: LeaseSQL.expired), arguments: [now, max(1, limit)]
            ).map(TaskRow.decode)
            for task in expired {
                let error = "The lease of worker \(task.claimedBy ?? "?") expired."
                let outcome: String
                if task.cancelRequested {
                    try Self.finish(task.id, as: .cancelled, error: error, now: now, db: db)
                    outcome = "cancelled"
                } else if task.attempts >= task.maxAttempts {
                    try Self.finish(task.id, as: .dead, error: error, now: now, db: db)
                    outcome = "dead: out of attempts"
                } else {
                    try Self.requeue(task, runAfter: now, attempts: task.attempts, error: error, db: db)
                    outcome = "queued again"
                }
                try Self.appendLog(
                    taskID: task.id, event: .expired, at: now, workerID: task.claimedBy, message: outcome, db: db
                )
            }
            return expired.count
        }
    }

    /// The running task this lease holds, or `leaseLost` / `notFound`.
    private static func holder(of lease: LeaseID, db: Database) throws -> QueueTask {
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: LeaseSQL.holder), arguments: [lease.taskID, lease.token]
        ) {
            return TaskRow.decode(row)
        }
        let task = try fetchTask(id: lease.taskID, db: db)
        throw QueueError(
            .leaseLost, "The lease on task \(lease.taskID) is no longer held (the task is \(task.status)).")
    }

    /// Ends a running task as `dead` or `cancelled`, keeping its error.
    private static func finish(_ id: Int64, as status: TaskStatus, error: String, now: Int64, db: Database) throws {
        try db.cachedStatement(sql: LeaseSQL.finish).execute(arguments: [status.rawValue, now, error, id])
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
    static let complete = """
        UPDATE tasks SET status = 'completed', completed_at = ?, result = ?, lease_token = NULL,
                         lease_expires_at = NULL
        WHERE id = ?
        RETURNING \(TaskRow.columns)
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
