import Foundation
import PostgresNIO
import PrismQ

extension PostgresStore: TransferStore {
    public func exportTasks(after id: Int64, limit: Int) async throws(QueueError) -> [TaskRecord] {
        try await transaction { [logger] connection, _ in
            let tasks = try await connection.tasks(
                "SELECT \(unescaped: TaskColumns.list) FROM tasks WHERE id > \(id) ORDER BY id LIMIT \(Int64(limit))",
                logger)
            guard let first = tasks.first, let last = tasks.last else { return [] }
            var logs: [Int64: [TaskLogEntry]] = [:]
            for row in try await connection.rows(
                """
                SELECT id, task_id, event, at, worker_id, message FROM task_logs
                WHERE task_id BETWEEN \(first.id) AND \(last.id) ORDER BY id
                """, logger)
            {
                let (id, task, event, at, worker, message) = try row.decode(
                    (Int64, Int64, String, Int64, String?, String?).self)
                logs[task, default: []].append(
                    TaskLogEntry(
                        id: id, taskID: task, event: TaskLogEntry.Event(rawValue: event), at: TaskColumns.date(at),
                        workerID: worker, message: message))
            }
            return tasks.map { TaskRecord(task: $0, logs: logs[$0.id] ?? []) }
        }
    }

    public func importTasks(_ records: [TaskRecord]) async throws(QueueError) -> Int {
        do {
            return try await transaction { [logger] connection, _ in
                var stored = 0
                for record in records {
                    let task = record.task
                    let inserted = try await connection.rows(
                        """
                        INSERT INTO tasks (id, type, payload, status, priority, attempts, max_attempts, idempotency_key,
                                           created_at, run_after, claimed_by, claimed_at, lease_expires_at, lease_token,
                                           lease_ms, completed_at, last_error, result, timeout_ms, cancel_requested,
                                           sched_key)
                        VALUES (\(task.id), \(task.type), \(task.payload.text), \(task.status.rawValue),
                                \(Int64(task.priority)), \(Int64(task.attempts)), \(Int64(task.maxAttempts)),
                                \(task.idempotencyKey), \(TaskColumns.millis(task.createdAt)),
                                \(TaskColumns.millis(task.runAfter)), \(task.claimedBy),
                                \(task.claimedAt.map(TaskColumns.millis)), \(task.leaseExpiresAt.map(TaskColumns.millis)),
                                \(task.leaseToken), \(task.leaseDuration.map(TaskColumns.millis)),
                                \(task.completedAt.map(TaskColumns.millis)), \(task.lastError), \(task.result?.text),
                                \(task.timeout.map(TaskColumns.millis)), \(task.cancelRequested),
                                \(unescaped: TaskColumns.schedulingKey(priority: "\(task.priority)")))
                        ON CONFLICT (id) DO NOTHING RETURNING id
                        """, logger)
                    guard !inserted.isEmpty else {
                        // There already: the same task, or another queue's task under its id.
                        let existing = try await connection.rows(
                            "SELECT type, created_at, payload FROM tasks WHERE id = \(task.id)", logger
                        ).first?.decode((String, Int64, String).self)
                        guard let existing, existing.0 == task.type, existing.1 == TaskColumns.millis(task.createdAt),
                            existing.2 == task.payload.text
                        else { throw QueueError.anotherTaskHolds(id: task.id) }
                        continue
                    }
                    stored += 1
                    guard !record.logs.isEmpty else { continue }
                    try await connection.rows(
                        """
                        INSERT INTO task_logs (task_id, event, at, worker_id, message)
                        SELECT \(task.id), event, at, nullif(worker_id, ''), CASE WHEN has_message THEN message END
                        FROM unnest(\(record.logs.map(\.event.rawValue)), \(record.logs.map { TaskColumns.millis($0.at) }),
                                    \(record.logs.map { $0.workerID ?? "" }), \(record.logs.map { $0.message != nil }),
                                    \(record.logs.map { $0.message ?? "" }))
                            WITH ORDINALITY AS entry (event, at, worker_id, has_message, message, position)
                        ORDER BY position
                        """, logger)
                }
                // Ids given here do not move the id sequence: move it past them (never back).
                try await connection.rows(
                    """
                    SELECT setval(sequence, greatest((SELECT max(id) FROM tasks), pg_sequence_last_value(sequence), 1))
                    FROM (SELECT pg_get_serial_sequence('tasks', 'id')::regclass AS sequence) AS found
                    """, logger)
                return stored
            }
        } catch let error where error.message.contains("tasks_by_idempotency_key") {
            throw QueueError(
                .conflict, "An idempotency key of the batch belongs to another task here; nothing of it was stored.")
        }
    }

    public func exportWorkers() async throws(QueueError) -> [WorkerRecord] {
        try await read { [logger] connection, _ in
            try await connection.rows(
                """
                SELECT id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at, stopped_at
                FROM workers ORDER BY id
                """, logger
            ).map { row in
                let (id, hostname, pid, capabilities, strategy, started, heartbeat, stopped) = try row.decode(
                    (String, String?, Int64?, [String], String?, Int64, Int64, Int64?).self)
                return WorkerRecord(
                    registration: WorkerRegistration(
                        id: id, hostname: hostname, pid: pid.map(Int.init), capabilities: capabilities,
                        strategy: strategy.map(SchedulingStrategy.init(rawValue:))),
                    startedAt: TaskColumns.date(started), lastHeartbeatAt: TaskColumns.date(heartbeat),
                    stoppedAt: stopped.map(TaskColumns.date))
            }
        }
    }

    public func importWorkers(_ workers: [WorkerRecord]) async throws(QueueError) {
        try await transaction { [logger] connection, _ in
            for record in workers {
                let worker = record.registration
                try await connection.rows(
                    """
                    INSERT INTO workers (id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at,
                                         stopped_at)
                    VALUES (\(worker.id), \(worker.hostname), \(worker.pid.map(Int64.init)), \(worker.capabilities),
                            \(worker.strategy?.rawValue), \(TaskColumns.millis(record.startedAt)),
                            \(TaskColumns.millis(record.lastHeartbeatAt)), \(record.stoppedAt.map(TaskColumns.millis)))
                    ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
                        capabilities = excluded.capabilities, strategy = excluded.strategy,
                        started_at = excluded.started_at, last_heartbeat_at = excluded.last_heartbeat_at,
                        stopped_at = excluded.stopped_at
                    """, logger)
            }
        }
    }
}
