import Foundation
import GRDB
import PrismQ

extension SQLiteStore: TransferStore {
    public func exportTasks(after id: Int64, limit: Int) async throws(QueueError) -> [TaskRecord] {
        try await read { db in
            let tasks = try TaskRow.fetchAll(
                db.cachedStatement(sql: "SELECT \(TaskRow.columns) FROM tasks WHERE id > ? ORDER BY id LIMIT ?"),
                arguments: [id, limit])
            guard let first = tasks.first, let last = tasks.last else { return [] }
            var logs: [Int64: [TaskLogEntry]] = [:]
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT id, task_id, event, at, worker_id, message FROM task_logs
                        WHERE task_id BETWEEN ? AND ? ORDER BY id
                        """),
                arguments: [first.id, last.id])
            for row in rows {
                let entry = TaskLogEntry(
                    id: row[0], taskID: row[1], event: TaskLogEntry.Event(rawValue: row[2]), at: TaskRow.date(row[3])!,
                    workerID: row[4], message: row[5])
                logs[entry.taskID, default: []].append(entry)
            }
            return tasks.map { TaskRecord(task: $0, logs: logs[$0.id] ?? []) }
        }
    }

    public func importTasks(_ records: [TaskRecord]) async throws(QueueError) -> Int {
        try await write { db in
            let virtualTime = try SchedulingKey.virtualTime(db)
            var stored = 0
            for record in records {
                let task = record.task
                do {
                    try db.cachedStatement(sql: TransferSQL.insertTask).execute(arguments: [
                        task.id, task.type, task.payload.text, task.status.rawValue, task.priority, task.attempts,
                        task.maxAttempts, task.idempotencyKey, TaskRow.millis(task.createdAt),
                        TaskRow.millis(task.runAfter), task.claimedBy, task.claimedAt.map(TaskRow.millis),
                        task.leaseExpiresAt.map(TaskRow.millis), task.leaseToken,
                        task.leaseDuration.map(TaskRow.millis), task.completedAt.map(TaskRow.millis), task.lastError,
                        task.result?.text, task.timeout.map(TaskRow.millis), task.cancelRequested,
                        SchedulingKey.make(priority: task.priority, virtualTime: virtualTime),
                    ])
                } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                    throw QueueError(
                        .conflict,
                        "Task \(task.id)'s idempotency key \(task.idempotencyKey ?? "") belongs to another task here.")
                }
                guard db.changesCount == 1 else {
                    // There already: the same task, or another queue's task under its id.
                    let existing = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT type, created_at, payload FROM tasks WHERE id = ?"),
                        arguments: [task.id])
                    guard let existing, existing[0] == task.type, existing[1] == TaskRow.millis(task.createdAt),
                        existing[2] == task.payload.text
                    else { throw QueueError.anotherTaskHolds(id: task.id) }
                    continue
                }
                stored += 1
                for entry in record.logs {
                    try Self.appendLog(
                        taskID: task.id, event: entry.event, at: TaskRow.millis(entry.at), workerID: entry.workerID,
                        message: entry.message, db: db)
                }
            }
            return stored
        }
    }

    public func exportWorkers() async throws(QueueError) -> [WorkerRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at, stopped_at
                    FROM workers ORDER BY id
                    """
            ).map { row in
                WorkerRecord(
                    registration: WorkerRegistration(
                        id: row[0], hostname: row[1], pid: row[2],
                        capabilities: (try? JSONDecoder().decode([String].self, from: Data((row[3] as String).utf8)))
                            ?? [],
                        strategy: (row[4] as String?).map(SchedulingStrategy.init(rawValue:))),
                    startedAt: TaskRow.date(row[5])!, lastHeartbeatAt: TaskRow.date(row[6])!,
                    stoppedAt: TaskRow.date(row[7]))
            }
        }
    }

    public func importWorkers(_ workers: [WorkerRecord]) async throws(QueueError) {
        try await write { db in
            for record in workers {
                let worker = record.registration
                try db.cachedStatement(sql: TransferSQL.replaceWorker).execute(arguments: [
                    worker.id, worker.hostname, worker.pid, JSONText.array(worker.capabilities.map(JSONText.quoted)),
                    worker.strategy?.rawValue, TaskRow.millis(record.startedAt),
                    TaskRow.millis(record.lastHeartbeatAt), record.stoppedAt.map(TaskRow.millis),
                ])
            }
        }
    }
}

/// The statements of copying a queue in.
enum TransferSQL {
    /// A task with every column given, its id included; nothing when the id is taken.
    static let insertTask = """
        INSERT INTO tasks (id, type, payload, status, priority, attempts, max_attempts, idempotency_key, created_at,
                           run_after, claimed_by, claimed_at, lease_expires_at, lease_token, lease_ms, completed_at,
                           last_error, result, timeout_ms, cancel_requested, sched_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO NOTHING
        """
    static let replaceWorker = """
        INSERT OR REPLACE INTO workers (id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at,
                                        stopped_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """
}
