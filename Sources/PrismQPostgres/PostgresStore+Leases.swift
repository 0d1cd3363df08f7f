import Foundation
import PostgresNIO
import PrismQ

extension PostgresStore {
    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        try await read(writing: true) { [logger] connection, now in
            try await Self.claim(request, now: now, connection: connection, logger: logger)
        }
    }

    /// Claims in one statement: picks the ready tasks in the strategy's order, skipping those
    /// another transaction has locked, moves them to `running` under fresh leases, logs the
    /// claims and refreshes the worker's registry row.
    static func claim(
        _ request: ClaimRequest, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> [Lease] {
        let types = Array(Set(request.capabilities)).sorted()
        let leaseMillis = TaskColumns.millis(request.leaseDuration)
        let expiry = now + leaseMillis
        let order =
            switch request.strategy {
            case .fifo: "run_after, id"
            case .lifo: "run_after DESC, id DESC"
            case .priority: "priority DESC, run_after, id"
            default: "sched_key"  // weighted random (a claim with an unknown strategy is refused)
            }
        let typeFilter = types.isEmpty ? "" : "AND type = ANY($5)"
        // The race's virtual time moves up to the largest key taken.
        let advance =
            request.strategy == .weightedRandom
            ? """
            , advanced AS (
                UPDATE scheduler SET virtual_time = greatest(virtual_time, (SELECT max(sched_key) FROM taken))
                WHERE id = 1 AND EXISTS (SELECT 1 FROM taken)
            )
            """ : ""
        var binds = PostgresBindings()
        binds.append(now)
        binds.append(Int64(request.maxTasks))
        binds.append(request.workerID)
        binds.append(expiry)
        binds.append(types)
        binds.append(leaseMillis)
        binds.append(request.strategy.rawValue)
        let sql = """
            WITH worker AS (
                INSERT INTO workers (id, capabilities, strategy, started_at, last_heartbeat_at)
                VALUES ($3, $5, $7, $1, $1)
                ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, stopped_at = NULL,
                    strategy = excluded.strategy, capabilities = excluded.capabilities
            ), picked AS (
                SELECT id FROM tasks WHERE status = 'queued' AND run_after <= $1 \(typeFilter)
                ORDER BY \(order) LIMIT $2 FOR UPDATE SKIP LOCKED
            ), taken AS (
                UPDATE tasks SET status = 'running', attempts = tasks.attempts + 1, claimed_by = $3, claimed_at = $1,
                    lease_expires_at = $4, lease_token = 1 + floor(random() * 9007199254740990)::bigint,
                    lease_ms = $6, cancel_requested = false
                FROM picked WHERE tasks.id = picked.id
                RETURNING \(TaskColumns.qualified("tasks")), tasks.sched_key
            ), logged AS (
                INSERT INTO task_logs (task_id, event, at, worker_id, message)
                SELECT id, 'claimed', $1, $3, 'attempt ' || attempts || ' of ' || max_attempts FROM taken
            )\(advance)
            SELECT * FROM taken
            """
        let rows = try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger)
        let taken = try rows.map { row in
            (try TaskColumns.decode(row), try row.makeRandomAccess()[20].decode(Double.self))
        }
        // In the strategy's order, which the statement does not keep.
        let sorted = taken.sorted { first, second in
            let (a, b) = (first.0, second.0)
            switch request.strategy {
            case .fifo: return (a.runAfter, a.id) < (b.runAfter, b.id)
            case .lifo: return (a.runAfter, a.id) > (b.runAfter, b.id)
            case .priority: return (-a.priority, a.runAfter, a.id) < (-b.priority, b.runAfter, b.id)
            default: return first.1 < second.1
            }
        }
        return sorted.map { task, _ in
            Lease(
                task: task, id: LeaseID(taskID: task.id, token: task.leaseToken ?? 0),
                expiresAt: TaskColumns.date(expiry))
        }
    }

    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        let extend = TaskColumns.millis(duration)
        return try await transaction { [logger] connection, now in
            try await Self.lockInOrder(leases.map(\.taskID), connection: connection, logger: logger)
            let expiry = now + extend
            let rows = try await connection.rows(
                """
                UPDATE tasks SET lease_expires_at = \(expiry)
                FROM unnest(\(leases.map(\.taskID)), \(leases.map(\.token))) AS lease (id, token)
                WHERE tasks.id = lease.id AND tasks.lease_token = lease.token AND tasks.status = 'running'
                RETURNING tasks.id, tasks.lease_token, tasks.cancel_requested, tasks.claimed_by
                """, logger)
            var renewed: [LeaseID: Bool] = [:]
            var workers = Set<String>()
            for row in rows {
                let (id, token, cancelRequested, worker) = try row.decode((Int64, Int64, Bool, String?).self)
                renewed[LeaseID(taskID: id, token: token)] = cancelRequested
                if let worker { workers.insert(worker) }
            }
            if !workers.isEmpty {
                try await connection.rows(
                    """
                    UPDATE workers SET last_heartbeat_at = \(now), stopped_at = NULL WHERE id = ANY(\(Array(workers)))
                    """, logger)
            }
            return leases.map { lease in
                renewed[lease].map { .renewed(expiresAt: TaskColumns.date(expiry), cancelRequested: $0) } ?? .lost
            }
        }
    }

    public func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        try await read(writing: true) { [logger] connection, now in
            try await Self.complete(lease, result: result, now: now, connection: connection, logger: logger)
        }
    }

    public func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask {
        try await transaction { [self] connection, now in
            try await fail(
                lease, error: error, retryable: retryable, retryPolicy: retryPolicy, now: now, connection: connection,
                logger: logger)
        }
    }

    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        try await transaction { [self] connection, now in
            try await release(lease, now: now, connection: connection, logger: logger)
        }
    }

    public func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        try await transaction { [self] connection, now in
            try await Self.lockInOrder(settlements.map(\.lease.taskID), connection: connection, logger: logger)
            let outcomes = try await settle(
                settlements, retryPolicy: retryPolicy, now: now, connection: connection, logger: logger)
            let leases =
                if let request { try await Self.claim(request, now: now, connection: connection, logger: logger) } else
                {
                    [Lease]()
                }
            return SettleResult(outcomes: outcomes, leases: leases)
        }
    }

    /// Settles in order; the completions share one statement when every lease appears once.
    /// A settlement refused for its lease (`leaseLost`, or `notFound` for a task that is gone)
    /// changes nothing, and its neighbours go on.
    private func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, now: Int64, connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Result<QueueTask, QueueError>] {
        var outcomes = [Result<QueueTask, QueueError>?](repeating: nil, count: settlements.count)
        let completions = LeaseEnding.batchedCompletions(settlements)
        let completed = try await Self.complete(
            completions.map { ($0.lease, $0.result) }, now: now, connection: connection, logger: logger)
        for (index, lease, _) in completions {
            if let task = completed[lease] {
                outcomes[index] = .success(task)
            } else {
                outcomes[index] = .failure(try await Self.leaseLost(lease, connection: connection, logger: logger))
            }
        }
        for (index, settlement) in settlements.enumerated() where outcomes[index] == nil {
            do {
                outcomes[index] = .success(
                    try await settle(
                        settlement, retryPolicy: retryPolicy, now: now, connection: connection, logger: logger))
            } catch let error as QueueError where error.code != .storage && error.code != .busy {
                outcomes[index] = .failure(error)
            }
        }
        return outcomes.map { $0! }
    }

    private func settle(
        _ settlement: Settlement, retryPolicy: RetryPolicy, now: Int64, connection: PostgresConnection,
        logger: Logger
    ) async throws -> QueueTask {
        switch settlement.outcome {
        case .completed(let result):
            try await Self.complete(settlement.lease, result: result, now: now, connection: connection, logger: logger)
        case .failed(let error, let retryable):
            try await fail(
                settlement.lease, error: error, retryable: retryable, retryPolicy: retryPolicy, now: now,
                connection: connection, logger: logger)
        case .released:
            try await release(settlement.lease, now: now, connection: connection, logger: logger)
        }
    }

    /// Locks the rows of `ids` in id order, so that two transactions that touch the same tasks
    /// (a worker's renewal and its settle) wait for each other instead of deadlocking.
    private static func lockInOrder(_ ids: [Int64], connection: PostgresConnection, logger: Logger) async throws {
        guard ids.count > 1 else { return }
        try await connection.rows("SELECT id FROM tasks WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE", logger)
    }

    /// Completes the tasks whose lease is current, in one statement, and logs them. Results
    /// are matched to leases by token, so a stale lease of a task never lends it its result.
    /// - Returns: the completed tasks by the lease that completed them.
    private static func complete(
        _ completions: [(LeaseID, RawJSON?)], now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> [LeaseID: QueueTask] {
        guard !completions.isEmpty else { return [:] }
        let ids = completions.map(\.0.taskID)
        let tokens = completions.map(\.0.token)
        let hasResult = completions.map { $0.1 != nil }
        let results = completions.map { $0.1?.text ?? "" }
        let rows = try await connection.rows(
            """
            WITH done AS (
                UPDATE tasks SET status = 'completed', completed_at = \(now),
                    result = CASE WHEN lease.has_result THEN lease.result END,
                    lease_token = NULL, lease_expires_at = NULL
                FROM unnest(\(ids), \(tokens), \(hasResult), \(results)) AS lease (id, token, has_result, result)
                WHERE tasks.id = lease.id AND tasks.lease_token = lease.token AND tasks.status = 'running'
                RETURNING \(unescaped: TaskColumns.qualified("tasks")), lease.token
            ), logged AS (
                INSERT INTO task_logs (task_id, event, at, worker_id) SELECT id, 'completed', \(now), claimed_by FROM done
            )
            SELECT * FROM done
            """, logger)
        var done: [LeaseID: QueueTask] = [:]
        for row in rows {
            let task = try TaskColumns.decode(row)
            done[LeaseID(taskID: task.id, token: try row.makeRandomAccess()[20].decode(Int64.self))] = task
        }
        return done
    }

    /// Completes one task while the lease is current.
    private static func complete(
        _ lease: LeaseID, result: RawJSON?, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        guard let task = try await complete([(lease, result)], now: now, connection: connection, logger: logger)[lease]
        else {
            throw try await leaseLost(lease, connection: connection, logger: logger)
        }
        return task
    }

    private func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy, now: Int64,
        connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        let task = try await Self.holder(of: lease, connection: connection, logger: logger)
        let ending = LeaseEnding.failed(task, error: error, retryable: retryable, retryPolicy: retryPolicy, now: now)
        return try await apply(ending, to: task, now: now, connection: connection, logger: logger)
    }

    private func release(
        _ lease: LeaseID, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        let task = try await Self.holder(of: lease, connection: connection, logger: logger)
        return try await apply(.released(task, now: now), to: task, now: now, connection: connection, logger: logger)
    }

    /// The running task this lease holds, locked for the transaction, or `leaseLost` / `notFound`.
    private static func holder(
        of lease: LeaseID, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        if let task = try await connection.tasks(
            """
            SELECT \(unescaped: TaskColumns.list) FROM tasks
            WHERE id = \(lease.taskID) AND lease_token = \(lease.token) AND status = 'running' FOR UPDATE
            """, logger
        ).first {
            return task
        }
        throw try await leaseLost(lease, connection: connection, logger: logger)
    }

    /// The error for a lease that is not current: `leaseLost`, or `notFound` for an unknown task.
    private static func leaseLost(
        _ lease: LeaseID, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueError {
        do {
            let task = try await fetchTask(id: lease.taskID, connection: connection, logger: logger)
            return QueueError(
                .leaseLost, "The lease on task \(lease.taskID) is no longer held (the task is \(task.status)).")
        } catch let error as QueueError where error.code == .notFound {
            return error
        }
    }

    /// Ends or requeues a running task as `ending` says and writes its history row, in one
    /// statement.
    /// - Returns: the task as it is now.
    @discardableResult
    func apply(
        _ ending: LeaseEnding, to task: QueueTask, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        let update: PostgresQuery =
            switch ending.action {
            case .finish(let status):
                """
                UPDATE tasks SET status = \(status.rawValue), completed_at = \(now), last_error = \(ending.error),
                                 lease_token = NULL, lease_expires_at = NULL
                WHERE id = \(task.id) RETURNING \(unescaped: TaskColumns.list)
                """
            case .requeue(let runAfter, let attempts):
                """
                UPDATE tasks SET status = 'queued', run_after = \(runAfter), attempts = \(Int64(attempts)),
                                 last_error = \(ending.error), lease_token = NULL, lease_expires_at = NULL,
                                 cancel_requested = false,
                                 sched_key = \(unescaped: TaskColumns.schedulingKey(priority: "priority"))
                WHERE id = \(task.id) RETURNING \(unescaped: TaskColumns.list)
                """
            }
        var query: PostgresQuery = "WITH changed AS ("
        query.sql += update.sql + "), logged AS (INSERT INTO task_logs (task_id, event, at, worker_id, message) "
        query.binds = update.binds
        let base = update.binds.count
        query.sql += "SELECT id, $\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4) FROM changed) SELECT *"
        query.binds.append(ending.event.rawValue)
        query.binds.append(now)
        query.binds.append(task.claimedBy)
        query.binds.append(ending.message)
        if case .requeue = ending.action {
            // Ready again: wake the listeners (in the final SELECT, which always runs).
            query.sql += ", pg_notify($\(base + 5), '')"
            query.binds.append(channel)
        }
        query.sql += " FROM changed"
        guard let changed = try await connection.tasks(query, logger).first else {
            throw QueueError(.storage, "Task \(task.id) vanished while its lease ended.")
        }
        return changed
    }
}
