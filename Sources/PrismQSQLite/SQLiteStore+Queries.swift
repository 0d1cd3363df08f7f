import Foundation
import GRDB
import PrismQ

extension SQLiteStore {
    public func task(id: Int64) async throws(QueueError) -> QueueTask {
        try await pointRead { db in try Self.fetchTask(id: id, db: db) }
    }

    /// The task with this id, or `notFound`.
    static func fetchTask(id: Int64, db: Database) throws -> QueueTask {
        guard let task = try TaskRow.fetchOne(db.cachedStatement(sql: StoreSQL.taskByID), arguments: [id]) else {
            throw QueueError(.notFound, "No task has the id \(id).")
        }
        return task
    }

    public func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage {
        let (sql, arguments) = Self.listQuery(filter, page, indexedFields: indexedPayloadFields)
        let limit = page.limit
        return try await read { db in
            let tasks = try TaskRow.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
            guard tasks.count > limit else { return TaskPage(tasks: tasks, nextCursor: nil) }
            let shown = Array(tasks.prefix(limit))
            return TaskPage(tasks: shown, nextCursor: PageCursor(lastID: shown[limit - 1].id))
        }
    }

    /// The newest-first page query: each filter walks an index in id order, so a page costs
    /// the same however many tasks there are. A type without a status reads one ordered range
    /// per status and merges them. A payload match on an indexed field walks that field's
    /// index; on any other field it is checked on each candidate row.
    static func listQuery(
        _ filter: TaskFilter, _ page: PageRequest, indexedFields: Set<String> = []
    )
        -> (String, StatementArguments)
    {
        var conditions = ["id < ?"]
        var arguments: [any DatabaseValueConvertible] = [page.cursor?.lastID ?? Int64.max]
        var source = "tasks"
        if let match = filter.payload {
            if indexedFields.contains(match.field) {
                source = "tasks INDEXED BY \(PayloadIndexes.index(match.field))"
                conditions.append("\(PayloadIndexes.column(match.field)) IS json_extract(?, '$')")
            } else {
                conditions.append("json_extract(payload, '$.\(match.field)') IS json_extract(?, '$')")
            }
            arguments.append(match.value.text)
        }
        if let type = filter.type {
            conditions.append("type = ?")
            arguments.append(type)
        }
        let select = "SELECT \(TaskRow.columns) FROM \(source)"
        let order = "ORDER BY id DESC LIMIT ?"
        let fetch = page.limit + 1
        if let status = filter.status {
            conditions.append("status = ?")
            arguments.append(status.rawValue)
        } else if filter.type != nil, filter.payload.map({ indexedFields.contains($0.field) }) != true {
            // One ordered range of `tasks_by_type` per status, merged.
            let arms = TaskStatus.allCases.map { status in
                "SELECT * FROM (\(select) WHERE \(conditions.joined(separator: " AND ")) AND status = '\(status.rawValue)' \(order))"
            }
            let sql = "SELECT * FROM (\(arms.joined(separator: " UNION ALL "))) \(order)"
            let armArguments = Array(repeating: arguments + [fetch], count: arms.count).flatMap { $0 }
            return (sql, StatementArguments(armArguments + [fetch]))
        }
        return (
            "\(select) WHERE \(conditions.joined(separator: " AND ")) \(order)", StatementArguments(arguments + [fetch])
        )
    }

    public func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        try await read { db in
            _ = try Self.fetchTask(id: taskID, db: db)
            return try Row.fetchAll(
                db.cachedStatement(sql: StoreSQL.logsOfTask),
                arguments: [taskID]
            ).map { row in
                TaskLogEntry(
                    id: row[0], taskID: row[1], event: TaskLogEntry.Event(rawValue: row[2]),
                    at: TaskRow.date(row[3])!, workerID: row[4], message: row[5]
                )
            }
        }
    }

    public func stats() async throws(QueueError) -> QueueStats {
        let now = nowMillis
        let staleBefore = now - TaskRow.millis(configuration.workerStaleAfter)
        return try await read { db in
            var byStatus = Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, 0) })
            var byType: [String: [TaskStatus: Int]] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: StoreSQL.countsByTypeAndStatus)) {
                let status = TaskStatus(rawValue: row[1])
                let count: Int = row[2]
                byStatus[status, default: 0] += count
                byType[row[0], default: Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, 0) })][
                    status] = count
            }
            let oldestReady = try Int64.fetchOne(db.cachedStatement(sql: StoreSQL.oldestReady), arguments: [now])
            func completed(since: Int64) throws -> Int {
                try Int.fetchOne(db.cachedStatement(sql: StoreSQL.completedSince), arguments: [since]) ?? 0
            }
            func failed(since: Int64) throws -> Int {
                try Int.fetchOne(db.cachedStatement(sql: StoreSQL.failedAttemptsSince), arguments: [since]) ?? 0
            }
            let workers = try Row.fetchOne(db.cachedStatement(sql: StoreSQL.workerStates), arguments: [staleBefore])
            var activity: [String: TypeActivity] = [:]
            let windows: StatementArguments = [now - 60_000, now - 3_600_000, now - 86_400_000]
            for row in try Row.fetchAll(db.cachedStatement(sql: StoreSQL.completedByType), arguments: windows) {
                activity[row[0] as String, default: TypeActivity()].completed = RecentCounts(
                    lastMinute: row[1], lastHour: row[2], lastDay: row[3])
            }
            for row in try Row.fetchAll(db.cachedStatement(sql: StoreSQL.failedByType), arguments: windows) {
                activity[row[0] as String, default: TypeActivity()].failed = RecentCounts(
                    lastMinute: row[1], lastHour: row[2], lastDay: row[3])
            }
            for row in try Row.fetchAll(db.cachedStatement(sql: StoreSQL.oldestReadyByType), arguments: [now]) {
                activity[row[0] as String, default: TypeActivity()].oldestReadyAgeSeconds =
                    Double(now - (row[1] as Int64)) / 1000
            }
            var stats = QueueStats(
                byStatus: byStatus,
                byType: byType,
                oldestReadyAgeSeconds: oldestReady.map { Double(now - $0) / 1000 },
                completedLastMinute: try completed(since: now - 60_000),
                completedLastHour: try completed(since: now - 3_600_000),
                failedLastMinute: try failed(since: now - 60_000),
                failedLastHour: try failed(since: now - 3_600_000),
                activeWorkers: workers?[0] ?? 0,
                staleWorkers: workers?[1] ?? 0
            )
            stats.record(activity)
            return stats
        }
    }

    public func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket] {
        let firstMinute = nowMillis / 60_000 - Int64(minutes - 1)
        return try await read { db in
            var completed: [Int64: Int] = [:]
            var failed: [Int64: Int] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: StoreSQL.completedPerMinute), arguments: [firstMinute * 60_000])
            {
                completed[row[0]] = row[1]
            }
            for row in try Row.fetchAll(
                db.cachedStatement(sql: StoreSQL.failedPerMinute), arguments: [firstMinute * 60_000])
            {
                failed[row[0], default: 0] += row[1] as Int
            }
            return (0..<Int64(minutes)).map { offset in
                let minute = firstMinute + offset
                return ThroughputBucket(
                    minute: TaskRow.date(minute * 60_000)!, completed: completed[minute] ?? 0,
                    failed: failed[minute] ?? 0
                )
            }
        }
    }

    public func workers() async throws(QueueError) -> [WorkerInfo] {
        let staleBefore = nowMillis - TaskRow.millis(configuration.workerStaleAfter)
        return try await read { db in
            return try Row.fetchAll(db.cachedStatement(sql: StoreSQL.workers)).map { row in
                let heartbeat: Int64 = row[6]
                let stopped = (row[7] as Int64?) != nil
                let capabilities = (try? JSONDecoder().decode([String].self, from: Data((row[3] as String).utf8))) ?? []
                return WorkerInfo(
                    id: row[0], hostname: row[1], pid: row[2], capabilities: capabilities, strategy: row[4],
                    startedAt: TaskRow.date(row[5])!, lastHeartbeatAt: TaskRow.date(heartbeat)!,
                    state: stopped ? .stopped : heartbeat < staleBefore ? .stale : .active,
                    currentTasks: row[8]
                )
            }
        }
    }
}

/// Read statements of the store; each reads an index, never the whole table
/// (the counts read the covering `tasks_by_type` index).
enum StoreSQL {
    static let countsByTypeAndStatus = "SELECT type, status, count(*) FROM tasks GROUP BY type, status"
    static let oldestReady = """
        SELECT min(run_after) FROM tasks INDEXED BY tasks_ready_by_time WHERE status = 'queued' AND run_after <= ?
        """
    static let completedSince = """
        SELECT count(*) FROM tasks INDEXED BY tasks_by_finish WHERE status = 'completed' AND completed_at >= ?
        """
    static let failedAttemptsSince = """
        SELECT (SELECT count(*) FROM task_logs WHERE event = 'failed' AND at >= ?1)
             + (SELECT count(*) FROM task_logs WHERE event = 'expired' AND at >= ?1)
        """
    /// Completions per type in the last minute, hour and day. Arguments: the three cutoffs.
    static let completedByType = """
        SELECT type, count(*) FILTER (WHERE completed_at >= ?1), count(*) FILTER (WHERE completed_at >= ?2), count(*)
        FROM tasks INDEXED BY tasks_by_finish WHERE status = 'completed' AND completed_at >= ?3 GROUP BY type
        """
    /// Failed attempts per type in the last minute, hour and day. Arguments: the three cutoffs.
    static let failedByType = """
        SELECT t.type, count(*) FILTER (WHERE l.at >= ?1), count(*) FILTER (WHERE l.at >= ?2), count(*)
        FROM task_logs l JOIN tasks t ON t.id = l.task_id
        WHERE (l.event = 'failed' OR l.event = 'expired') AND l.at >= ?3 GROUP BY t.type
        """
    /// When each type's oldest ready task became ready. Argument: now.
    static let oldestReadyByType = """
        SELECT type, min(run_after) FROM tasks INDEXED BY tasks_ready_by_type_time
        WHERE status = 'queued' AND run_after <= ? GROUP BY type
        """
    static let workerStates = """
        SELECT count(*) FILTER (WHERE last_heartbeat_at >= ?1), count(*) FILTER (WHERE last_heartbeat_at < ?1)
        FROM workers WHERE stopped_at IS NULL
        """
    static let workers = """
        SELECT w.id, w.hostname, w.pid, w.capabilities, w.strategy, w.started_at, w.last_heartbeat_at, w.stopped_at,
               (SELECT count(*) FROM tasks t WHERE t.status = 'running' AND t.claimed_by = w.id)
        FROM workers w ORDER BY w.last_heartbeat_at DESC
        """
    static let completedPerMinute = """
        SELECT completed_at / 60000, count(*) FROM tasks INDEXED BY tasks_by_finish
        WHERE status = 'completed' AND completed_at >= ? GROUP BY 1
        """
    /// One event per arm, so that each reads the partial index `task_logs_failures`.
    static let failedPerMinute = """
        SELECT minute, sum(events) FROM (
            SELECT at / 60000 AS minute, count(*) AS events FROM task_logs INDEXED BY task_logs_failures
            WHERE event = 'failed' AND at >= ?1 GROUP BY 1
            UNION ALL
            SELECT at / 60000, count(*) FROM task_logs INDEXED BY task_logs_failures
            WHERE event = 'expired' AND at >= ?1 GROUP BY 1
        ) GROUP BY minute
        """
    static let logsOfTask =
        "SELECT id, task_id, event, at, worker_id, message FROM task_logs WHERE task_id = ? ORDER BY id"
    static let taskByID = "SELECT \(TaskRow.columns) FROM tasks WHERE id = ?"
    static let taskByIdempotencyKey = "SELECT \(TaskRow.columns) FROM tasks WHERE idempotency_key = ?"
}
