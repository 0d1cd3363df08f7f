import GRDB
import PrismQ

extension SQLiteStore {
    public func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        let now = nowMillis
        return try await write { db in
            let virtualTime = try SchedulingKey.virtualTime(db)
            return try tasks.map { task in try Self.insert(task, now: now, virtualTime: virtualTime, db: db) }
        }
    }

    /// Inserts one task, or returns the task its idempotency key already names.
    private static func insert(
        _ task: NewTask, now: Int64, virtualTime: Double, db: Database
    ) throws
        -> EnqueueResult
    {
        if let key = task.idempotencyKey,
            let existing = try TaskRow.fetchOne(
                db.cachedStatement(sql: StoreSQL.taskByIdempotencyKey), arguments: [key]
            )
        {
            return EnqueueResult(task: existing, created: false)
        }
        let runAfter =
            if let date = task.runAfter { TaskRow.millis(date) } else if let delay = task.delay {
                now + TaskRow.millis(delay)
            } else { now }
        let timeoutMillis = task.timeout.map(TaskRow.millis)
        try db.cachedStatement(
            sql: """
                INSERT INTO tasks (type, payload, status, priority, max_attempts, idempotency_key,
                                   created_at, run_after, timeout_ms, sched_key)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            task.type, task.payload.text, task.priority, task.maxAttempts, task.idempotencyKey, now, runAfter,
            timeoutMillis, SchedulingKey.make(priority: task.priority, virtualTime: virtualTime),
        ])
        // The row as stored, built here rather than read back (it costs a third of an insert).
        let stored = QueueTask(
            id: db.lastInsertedRowID, type: task.type, payload: task.payload, status: .queued,
            priority: task.priority, attempts: 0, maxAttempts: task.maxAttempts, idempotencyKey: task.idempotencyKey,
            createdAt: TaskRow.date(now)!, runAfter: TaskRow.date(runAfter)!, claimedBy: nil, claimedAt: nil,
            leaseExpiresAt: nil, completedAt: nil, lastError: nil, result: nil, leaseToken: nil,
            cancelRequested: false, timeout: timeoutMillis.map { .milliseconds($0) }
        )
        try appendLog(taskID: stored.id, event: .enqueued, at: now, db: db)
        return EnqueueResult(task: stored, created: true)
    }

    /// Appends a row to a task's history.
    static func appendLog(
        taskID: Int64, event: TaskLogEntry.Event, at: Int64, workerID: String? = nil, message: String? = nil,
        db: Database
    ) throws {
        try db.cachedStatement(
            sql: "INSERT INTO task_logs (task_id, event, at, worker_id, message) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [taskID, event.rawValue, at, workerID, message])
    }
}
