import Foundation
import PostgresNIO
import PrismQ

extension PostgresStore {
    public func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        if tasks.count == 1 {  // one statement
            return try await read(writing: true, announcing: true) { [logger] connection, now in
                [try await Self.insert(tasks[0], now: now, connection: connection, logger: logger)]
            }
        }
        return try await transaction(announcing: true) { [logger] connection, now in
            var results: [EnqueueResult] = []
            for task in tasks {
                results.append(try await Self.insert(task, now: now, connection: connection, logger: logger))
            }
            return results
        }
    }

    /// Inserts one task with its `enqueued` history row, or returns the task its idempotency
    /// key already names. A concurrent insert of the same key (on any host) makes this one
    /// wait for it, then find its task.
    private static func insert(
        _ task: NewTask, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> EnqueueResult {
        let runAfter =
            if let date = task.runAfter { TaskColumns.millis(date) } else if let delay = task.delay {
                now + TaskColumns.millis(delay)
            } else { now }
        let timeout = task.timeout.map(TaskColumns.millis)
        var binds = PostgresBindings()
        binds.append(task.type)
        binds.append(task.payload.text)
        binds.append(Int64(task.priority))
        binds.append(Int64(task.maxAttempts))
        binds.append(task.idempotencyKey)
        binds.append(now)
        binds.append(runAfter)
        binds.append(timeout)
        let inserted = try await connection.rows(InsertTaskStatement(bindings: binds), logger)
        guard let row = inserted.first else {
            let existing = try await connection.tasks(
                "SELECT \(unescaped: TaskColumns.list) FROM tasks WHERE idempotency_key = \(task.idempotencyKey)",
                logger)
            guard let existing = existing.first else {
                throw QueueError(.busy, "The idempotency key's task was removed while enqueueing; try again.")
            }
            return EnqueueResult(task: existing, created: false)
        }
        let stored = QueueTask(
            id: try row.decode(Int64.self), type: task.type, payload: task.payload, status: .queued,
            priority: task.priority, attempts: 0, maxAttempts: task.maxAttempts, idempotencyKey: task.idempotencyKey,
            createdAt: TaskColumns.date(now), runAfter: TaskColumns.date(runAfter), claimedBy: nil, claimedAt: nil,
            leaseExpiresAt: nil, completedAt: nil, lastError: nil, result: nil, leaseToken: nil,
            cancelRequested: false, timeout: timeout.map { .milliseconds($0) }
        )
        return EnqueueResult(task: stored, created: true)
    }

    public func task(id: Int64) async throws(QueueError) -> QueueTask {
        try await read { [logger] connection, _ in
            try await Self.fetchTask(id: id, connection: connection, logger: logger)
        }
    }

    /// The task with this id (locked for the transaction with `forUpdate`), or `notFound`.
    static func fetchTask(
        id: Int64, forUpdate: Bool = false, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        let lock = forUpdate ? "FOR UPDATE" : ""
        guard
            let task = try await connection.tasks(
                "SELECT \(unescaped: TaskColumns.list) FROM tasks WHERE id = \(id) \(unescaped: lock)", logger
            ).first
        else {
            throw QueueError(.notFound, "No task has the id \(id).")
        }
        return task
    }

    public func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage {
        let limit = page.limit
        return try await read { [logger] connection, _ in
            var query: PostgresQuery = """
                SELECT \(unescaped: TaskColumns.list) FROM tasks WHERE id < \(page.cursor?.lastID ?? Int64.max)
                """
            if let status = filter.status {
                query.sql += " AND status = $\(query.binds.count + 1)"
                query.binds.append(status.rawValue)
            }
            if let type = filter.type {
                query.sql += " AND type = $\(query.binds.count + 1)"
                query.binds.append(type)
            }
            if let match = filter.payload {
                // JSON null and a missing field both match null, as in SQLite's json_extract.
                query.sql += """
                     AND nullif(payload::jsonb -> $\(query.binds.count + 1), 'null'::jsonb)
                         IS NOT DISTINCT FROM nullif($\(query.binds.count + 2)::jsonb, 'null'::jsonb)
                    """
                query.binds.append(match.field)
                query.binds.append(match.value.text)
            }
            query.sql += " ORDER BY id DESC LIMIT $\(query.binds.count + 1)"
            query.binds.append(Int64(limit + 1))
            let tasks = try await connection.tasks(query, logger)
            guard tasks.count > limit else { return TaskPage(tasks: tasks, nextCursor: nil) }
            let shown = Array(tasks.prefix(limit))
            return TaskPage(tasks: shown, nextCursor: PageCursor(lastID: shown[limit - 1].id))
        }
    }

    public func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        try await transaction { [logger] connection, now in
            let task = try await Self.fetchTask(id: id, forUpdate: true, connection: connection, logger: logger)
            switch task.status {
            case .queued, .failed:
                try await connection.rows(
                    """
                    UPDATE tasks SET status = 'cancelled', completed_at = \(now), lease_token = NULL,
                                     lease_expires_at = NULL
                    WHERE id = \(id)
                    """, logger)
                try await Self.appendLog(taskID: id, event: .cancelled, at: now, connection: connection, logger: logger)
            case .running:
                if !task.cancelRequested {
                    try await connection.rows("UPDATE tasks SET cancel_requested = true WHERE id = \(id)", logger)
                    try await Self.appendLog(
                        taskID: id, event: .cancelRequested, at: now, workerID: task.claimedBy,
                        connection: connection, logger: logger)
                }
            default:  // completed, dead, cancelled (and any state a later version adds)
                throw QueueError(.conflict, "Task \(id) is already \(task.status) and cannot be cancelled.")
            }
            return try await Self.fetchTask(id: id, connection: connection, logger: logger)
        }
    }

    public func retry(id: Int64) async throws(QueueError) -> QueueTask {
        try await transaction(announcing: true) { [logger] connection, now in
            let task = try await Self.fetchTask(id: id, forUpdate: true, connection: connection, logger: logger)
            guard task.status == .dead || task.status == .cancelled else {
                throw QueueError(
                    .conflict, "Task \(id) is \(task.status); only dead or cancelled tasks can be retried.")
            }
            try await connection.rows(
                """
                UPDATE tasks SET status = 'queued', attempts = 0, run_after = \(now), completed_at = NULL,
                                 claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL, lease_token = NULL,
                                 cancel_requested = false,
                                 sched_key = \(unescaped: TaskColumns.schedulingKey(priority: "priority"))
                WHERE id = \(id)
                """, logger)
            try await Self.appendLog(
                taskID: id, event: .retried, at: now, message: "was \(task.status)", connection: connection,
                logger: logger)
            return try await Self.fetchTask(id: id, connection: connection, logger: logger)
        }
    }

    /// Appends a row to a task's history.
    static func appendLog(
        taskID: Int64, event: TaskLogEntry.Event, at: Int64, workerID: String? = nil, message: String? = nil,
        connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.rows(
            """
            INSERT INTO task_logs (task_id, event, at, worker_id, message)
            VALUES (\(taskID), \(event.rawValue), \(at), \(workerID), \(message))
            """, logger)
    }

    public func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        try await read { [logger] connection, _ in
            _ = try await Self.fetchTask(id: taskID, connection: connection, logger: logger)
            return try await connection.rows(
                "SELECT id, task_id, event, at, worker_id, message FROM task_logs WHERE task_id = \(taskID) ORDER BY id",
                logger
            ).map { row in
                let (id, task, event, at, worker, message) = try row.decode(
                    (Int64, Int64, String, Int64, String?, String?).self)
                return TaskLogEntry(
                    id: id, taskID: task, event: TaskLogEntry.Event(rawValue: event), at: TaskColumns.date(at),
                    workerID: worker, message: message)
            }
        }
    }

    public func stats() async throws(QueueError) -> QueueStats {
        let staleAfter = TaskColumns.millis(configuration.workerStaleAfter)
        return try await read { [logger] connection, now in
            var byStatus = Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, 0) })
            var byType: [String: [TaskStatus: Int]] = [:]
            for row in try await connection.rows(
                "SELECT type, status, count(*) FROM tasks GROUP BY type, status", logger)
            {
                let (type, name, count) = try row.decode((String, String, Int64).self)
                let status = TaskStatus(rawValue: name)
                byStatus[status, default: 0] += Int(count)
                byType[type, default: Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, 0) })][status] =
                    Int(count)
            }
            let minute = now - 60_000
            let hour = now - 3_600_000
            let staleBefore = now - staleAfter
            let row = try await connection.rows(
                """
                SELECT
                    (SELECT min(run_after) FROM tasks WHERE status = 'queued' AND run_after <= \(now)),
                    (SELECT count(*) FROM tasks WHERE status = 'completed' AND completed_at >= \(minute)),
                    (SELECT count(*) FROM tasks WHERE status = 'completed' AND completed_at >= \(hour)),
                    (SELECT count(*) FROM task_logs WHERE event IN ('failed', 'expired') AND at >= \(minute)),
                    (SELECT count(*) FROM task_logs WHERE event IN ('failed', 'expired') AND at >= \(hour)),
                    (SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_heartbeat_at >= \(staleBefore)),
                    (SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_heartbeat_at < \(staleBefore))
                """, logger)[0]
            let (oldest, completedMinute, completedHour, failedMinute, failedHour, active, stale) = try row.decode(
                (Int64?, Int64, Int64, Int64, Int64, Int64, Int64).self)
            var stats = QueueStats(
                byStatus: byStatus, byType: byType,
                oldestReadyAgeSeconds: oldest.map { Double(now - $0) / 1000 },
                completedLastMinute: Int(completedMinute), completedLastHour: Int(completedHour),
                failedLastMinute: Int(failedMinute), failedLastHour: Int(failedHour),
                activeWorkers: Int(active), staleWorkers: Int(stale)
            )
            stats.record(try await Self.activityByType(connection, now: now, logger: logger))
            return stats
        }
    }

    /// Each type's oldest ready task, and its completions and failed attempts in the last
    /// minute, hour and day.
    private static func activityByType(
        _ connection: PostgresConnection, now: Int64, logger: Logger
    ) async throws -> [String: TypeActivity] {
        let (minute, hour, day) = (now - 60_000, now - 3_600_000, now - 86_400_000)
        var activity: [String: TypeActivity] = [:]
        for row in try await connection.rows(
            """
            SELECT type, count(*) FILTER (WHERE completed_at >= \(minute)),
                   count(*) FILTER (WHERE completed_at >= \(hour)), count(*)
            FROM tasks WHERE status = 'completed' AND completed_at >= \(day) GROUP BY type
            """, logger)
        {
            let (type, lastMinute, lastHour, lastDay) = try row.decode((String, Int64, Int64, Int64).self)
            activity[type, default: TypeActivity()].completed = RecentCounts(
                lastMinute: Int(lastMinute), lastHour: Int(lastHour), lastDay: Int(lastDay))
        }
        for row in try await connection.rows(
            """
            SELECT t.type, count(*) FILTER (WHERE l.at >= \(minute)), count(*) FILTER (WHERE l.at >= \(hour)), count(*)
            FROM task_logs l JOIN tasks t ON t.id = l.task_id
            WHERE l.event IN ('failed', 'expired') AND l.at >= \(day) GROUP BY t.type
            """, logger)
        {
            let (type, lastMinute, lastHour, lastDay) = try row.decode((String, Int64, Int64, Int64).self)
            activity[type, default: TypeActivity()].failed = RecentCounts(
                lastMinute: Int(lastMinute), lastHour: Int(lastHour), lastDay: Int(lastDay))
        }
        for row in try await connection.rows(
            "SELECT type, min(run_after) FROM tasks WHERE status = 'queued' AND run_after <= \(now) GROUP BY type",
            logger)
        {
            let (type, oldest) = try row.decode((String, Int64).self)
            activity[type, default: TypeActivity()].oldestReadyAgeSeconds = Double(now - oldest) / 1000
        }
        return activity
    }

    public func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket] {
        try await read { [logger] connection, now in
            let firstMinute = now / 60_000 - Int64(minutes - 1)
            let since = firstMinute * 60_000
            var completed: [Int64: Int] = [:]
            var failed: [Int64: Int] = [:]
            for row in try await connection.rows(
                """
                SELECT completed_at / 60000, count(*) FROM tasks
                WHERE status = 'completed' AND completed_at >= \(since) GROUP BY 1
                """, logger)
            {
                let (minute, count) = try row.decode((Int64, Int64).self)
                completed[minute] = Int(count)
            }
            for row in try await connection.rows(
                """
                SELECT at / 60000, count(*) FROM task_logs
                WHERE event IN ('failed', 'expired') AND at >= \(since) GROUP BY 1
                """, logger)
            {
                let (minute, count) = try row.decode((Int64, Int64).self)
                failed[minute] = Int(count)
            }
            return (0..<Int64(minutes)).map { offset in
                let minute = firstMinute + offset
                return ThroughputBucket(
                    minute: TaskColumns.date(minute * 60_000), completed: completed[minute] ?? 0,
                    failed: failed[minute] ?? 0)
            }
        }
    }

    public func workers() async throws(QueueError) -> [WorkerInfo] {
        let staleAfter = TaskColumns.millis(configuration.workerStaleAfter)
        return try await read { [logger] connection, now in
            try await connection.rows(
                """
                SELECT w.id, w.hostname, w.pid, w.capabilities, w.strategy, w.started_at, w.last_heartbeat_at,
                       w.stopped_at,
                       (SELECT count(*) FROM tasks t WHERE t.status = 'running' AND t.claimed_by = w.id)
                FROM workers w ORDER BY w.last_heartbeat_at DESC
                """, logger
            ).map { row in
                let (id, hostname, pid, capabilities, strategy, started, heartbeat, stopped, running) = try row.decode(
                    (String, String?, Int64?, [String], String?, Int64, Int64, Int64?, Int64).self)
                return WorkerInfo(
                    id: id, hostname: hostname, pid: pid.map(Int.init), capabilities: capabilities, strategy: strategy,
                    startedAt: TaskColumns.date(started), lastHeartbeatAt: TaskColumns.date(heartbeat),
                    state: stopped != nil ? .stopped : heartbeat < now - staleAfter ? .stale : .active,
                    currentTasks: Int(running)
                )
            }
        }
    }
}
