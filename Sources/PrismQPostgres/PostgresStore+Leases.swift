import Foundation
import PostgresNIO
import PrismQ

extension PostgresStore {
    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        try await read(writing: true) { [self] connection, now in
            try await claim(request, now: now, connection: connection, logger: logger)
        }
    }

    /// Claims as `request` says, in one statement (``ClaimStatement``), and returns the leases
    /// in the strategy's order.
    func claim(
        _ request: ClaimRequest, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> [Lease] {
        let types = Array(Set(request.capabilities)).sorted()
        let binds = SettleSQL.claimBindings(request, types: types, now: now, serverClock: readsServerClock)
        let rows = try await Self.run(
            ClaimShape(request, types: types), binds: binds, connection: connection, logger: logger)
        let taken = try rows.map { row in
            (try TaskColumns.decode(row), try row.makeRandomAccess()[20].decode(Double.self))
        }
        return Self.leases(taken, request: request, now: now)
    }

    /// The leases of tasks claimed at `now` for `request`, in the strategy's order (which the
    /// statement does not keep), given the tasks and their scheduling keys.
    private static func leases(_ taken: [(QueueTask, Double)], request: ClaimRequest, now: Int64) -> [Lease] {
        let sorted = taken.sorted { first, second in
            let (a, b) = (first.0, second.0)
            switch request.strategy {
            case .fifo: return (a.runAfter, a.id) < (b.runAfter, b.id)
            case .lifo: return (a.runAfter, a.id) > (b.runAfter, b.id)
            case .priority: return (-a.priority, a.runAfter, a.id) < (-b.priority, b.runAfter, b.id)
            default: return first.1 < second.1
            }
        }
        let expiry = TaskColumns.date(now + TaskColumns.millis(request.leaseDuration))
        return sorted.map { task, _ in
            Lease(task: task, id: LeaseID(taskID: task.id, token: task.leaseToken ?? 0), expiresAt: expiry)
        }
    }

    /// Runs the claim statement, alone or after completions (`completing`), of the shape that
    /// fits `request`: its strategy's order, for any type or for the named ones.
    private static func run(
        _ shape: ClaimShape, completing: Bool = false, binds: PostgresBindings, connection: PostgresConnection,
        logger: Logger
    ) async throws -> [PostgresRow] {
        switch shape.strategy {
        case .fifo: try await run(OldestFirst.self, shape, completing, binds, connection, logger)
        case .lifo: try await run(NewestFirst.self, shape, completing, binds, connection, logger)
        case .priority: try await run(HighestPriorityFirst.self, shape, completing, binds, connection, logger)
        // Weighted random (a claim with an unknown strategy is refused before it gets here).
        default: try await run(WeightedRace.self, shape, completing, binds, connection, logger)
        }
    }

    private static func run<Order: ClaimOrder>(
        _ order: Order.Type, _ shape: ClaimShape, _ completing: Bool, _ binds: PostgresBindings,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [PostgresRow] {
        switch (shape.anyType, completing) {
        case (true, false): try await connection.rows(ClaimStatement<Order, AnyType>(bindings: binds), logger)
        case (false, false): try await connection.rows(ClaimStatement<Order, NamedTypes>(bindings: binds), logger)
        case (true, true): try await connection.rows(CompleteAndClaimStatement<Order, AnyType>(bindings: binds), logger)
        case (false, true):
            try await connection.rows(CompleteAndClaimStatement<Order, NamedTypes>(bindings: binds), logger)
        }
    }

    /// What picks a claim's statement.
    private struct ClaimShape {
        let strategy: SchedulingStrategy
        let anyType: Bool

        init(_ request: ClaimRequest, types: [String]) {
            strategy = request.strategy
            anyType = types.isEmpty
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
        let completions = LeaseEnding.batchedCompletions(settlements)
        if completions.count == settlements.count {  // one statement
            return try await read(writing: true) { [self] connection, now in
                try await complete(
                    completions.map { ($0.lease, $0.result) }, thenClaim: request, now: now, connection: connection,
                    logger: logger)
            }
        }
        return try await transaction { [self] connection, now in
            try await Self.lockInOrder(settlements.map(\.lease.taskID), connection: connection, logger: logger)
            let outcomes = try await settle(
                settlements, retryPolicy: retryPolicy, now: now, connection: connection, logger: logger)
            let leases =
                if let request { try await claim(request, now: now, connection: connection, logger: logger) } else {
                    [Lease]()
                }
            return SettleResult(outcomes: outcomes, leases: leases)
        }
    }

    /// Completes leases (each appearing once) and claims as `request` says, in one statement
    /// that also reports the leases that were not current (`leaseLost`, or `notFound`): they
    /// change nothing, and nothing is left to read once the statement committed.
    private func complete(
        _ completions: [(LeaseID, RawJSON?)], thenClaim request: ClaimRequest?, now: Int64,
        connection: PostgresConnection, logger: Logger
    ) async throws -> SettleResult {
        var rows: SettleRows
        var leases: [Lease] = []
        if let request, !completions.isEmpty {
            let types = Array(Set(request.capabilities)).sorted()
            var binds = SettleSQL.claimBindings(request, types: types, now: now, serverClock: readsServerClock)
            SettleSQL.appendCompletions(completions, to: &binds)
            rows = try SettleRows(
                try await Self.run(
                    ClaimShape(request, types: types), completing: true, binds: binds, connection: connection,
                    logger: logger))
            leases = Self.leases(rows.taken, request: request, now: now)
        } else {
            rows = try await Self.complete(completions, now: now, connection: connection, logger: logger)
            if let request { leases = try await claim(request, now: now, connection: connection, logger: logger) }
        }
        return SettleResult(outcomes: completions.map { rows.outcome(of: $0.0) }, leases: leases)
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
        for (index, lease, _) in completions { outcomes[index] = completed.outcome(of: lease) }
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
        var binds = PostgresBindings()
        binds.append(ids)
        try await connection.rows(LockInOrderStatement(bindings: binds), logger)
    }

    /// Completes the tasks whose lease is current, in one statement (``CompleteStatement``).
    private static func complete(
        _ completions: [(LeaseID, RawJSON?)], now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> SettleRows {
        guard !completions.isEmpty else { return try SettleRows([]) }
        var binds = PostgresBindings()
        binds.append(now)
        SettleSQL.appendCompletions(completions, to: &binds)
        return try SettleRows(try await connection.rows(CompleteStatement(bindings: binds), logger))
    }

    /// Completes one task while the lease is current.
    private static func complete(
        _ lease: LeaseID, result: RawJSON?, now: Int64, connection: PostgresConnection, logger: Logger
    ) async throws -> QueueTask {
        try await complete([(lease, result)], now: now, connection: connection, logger: logger).outcome(of: lease).get()
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
        let rows = try await connection.rows("SELECT status FROM tasks WHERE id = \(lease.taskID)", logger)
        return leaseLost(lease.taskID, status: try rows.first.map { TaskStatus(rawValue: try $0.decode(String.self)) })
    }

    /// The error for a lease on task `taskID` that is not current: `leaseLost`, saying the
    /// task's `status`, or `notFound` when there is no such task (`status` is `nil`).
    static func leaseLost(_ taskID: Int64, status: TaskStatus?) -> QueueError {
        guard let status else { return QueueError(.notFound, "No task has the id \(taskID).") }
        return QueueError(.leaseLost, "The lease on task \(taskID) is no longer held (the task is \(status)).")
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
