import GRDB
import PrismQ

extension SQLiteStore {
    public func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        let now = nowMillis
        return try await write { db in
            let task = try Self.fetchTask(id: id, db: db)
            switch task.status {
            case .queued, .failed:
                try db.execute(
                    sql: """
                        UPDATE tasks SET status = 'cancelled', completed_at = ?, lease_token = NULL,
                                         lease_expires_at = NULL
                        WHERE id = ?
                        """,
                    arguments: [now, id]
                )
                try Self.appendLog(taskID: id, event: .cancelled, at: now, db: db)
            case .running:
                if !task.cancelRequested {
                    try db.execute(sql: "UPDATE tasks SET cancel_requested = 1 WHERE id = ?", arguments: [id])
                    try Self.appendLog(
                        taskID: id, event: .cancelRequested, at: now, workerID: task.claimedBy, db: db
                    )
                }
            default:  // completed, dead, cancelled (and any state a later version adds)
                throw QueueError(.conflict, "Task \(id) is already \(task.status) and cannot be cancelled.")
            }
            return try Self.fetchTask(id: id, db: db)
        }
    }

    public func retry(id: Int64) async throws(QueueError) -> QueueTask {
        let now = nowMillis
        return try await write { db in
            let task = try Self.fetchTask(id: id, db: db)
            guard task.status == .dead || task.status == .cancelled else {
                throw QueueError(
                    .conflict, "Task \(id) is \(task.status); only dead or cancelled tasks can be retried."
                )
            }
            try db.execute(
                sql: """
                    UPDATE tasks SET status = 'queued', attempts = 0, run_after = ?, completed_at = NULL,
                                     claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
                                     lease_token = NULL, cancel_requested = 0, sched_key = ?
                    WHERE id = ?
                    """,
                arguments: [
                    now, SchedulingKey.make(priority: task.priority, virtualTime: try SchedulingKey.virtualTime(db)),
                    id,
                ]
            )
            try Self.appendLog(taskID: id, event: .retried, at: now, message: "was \(task.status)", db: db)
            return try Self.fetchTask(id: id, db: db)
        }
    }
}
