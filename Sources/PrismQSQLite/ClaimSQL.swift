import PrismQ

/// The claim queries of each strategy. Each reads one partial index over queued tasks in the
/// strategy's exact order, so it costs the same at a thousand or a million ready tasks:
///
/// | strategy | any type | named types (one range per type, merged) |
/// | --- | --- | --- |
/// | FIFO / LIFO | `tasks_ready_by_time` forwards / backwards | `tasks_ready_by_type_time` |
/// | priority | one range per queued type | `tasks_ready_by_type_priority` |
/// | weighted random | one range per queued type | `tasks_ready_by_type_key` |
///
/// Weighted random is an exponential race: each queued task carries a key
/// `virtualTime + Exp(1) / weight`, and a claim takes the smallest keys. By the memoryless
/// property the smallest key among the ready tasks belongs to each with probability
/// proportional to its weight, so every class keeps its share and nothing starves.
enum ClaimSQL {
    /// The candidate columns: id, then the columns the strategy orders by.
    static func orderColumns(_ strategy: SchedulingStrategy) -> String {
        switch strategy {
        case .fifo: "run_after, id"
        case .lifo: "run_after DESC, id DESC"
        case .priority: "priority DESC, run_after, id"
        default: "sched_key"  // weighted random (a claim with an unknown strategy is refused)
        }
    }

    /// The per-type partial index that holds queued tasks in the strategy's order.
    static func typedIndex(_ strategy: SchedulingStrategy) -> String {
        switch strategy {
        case .fifo, .lifo: "tasks_ready_by_type_time"
        case .priority: "tasks_ready_by_type_priority"
        default: "tasks_ready_by_type_key"  // weighted random
        }
    }

    /// Ordered candidate ids and scheduling keys of any type, through the ready-by-time index:
    /// flat for FIFO and LIFO, whose order it is; for priority and weighted random only when
    /// too many types are queued to merge per type (correct, but its cost grows with the
    /// ready set). Arguments: now, limit.
    static func anyType(_ strategy: SchedulingStrategy) -> String {
        """
        SELECT id, sched_key FROM tasks INDEXED BY tasks_ready_by_time
        WHERE status = 'queued' AND run_after <= ? ORDER BY \(orderColumns(strategy)) LIMIT ?
        """
    }

    /// Ordered candidate ids and keys among `typeCount` named types: one ordered range per
    /// type, merged. Arguments: now, limit, then each type.
    static func namedTypes(_ strategy: SchedulingStrategy, typeCount: Int) -> String {
        let order = orderColumns(strategy)
        let arms = (0..<typeCount).map { index in
            """
            SELECT * FROM (SELECT id, sched_key, run_after, priority FROM tasks INDEXED BY \(typedIndex(strategy))
            WHERE type = ?\(index + 3) AND status = 'queued' AND run_after <= ?1 ORDER BY \(order) LIMIT ?2)
            """
        }
        return "SELECT id, sched_key FROM (\(arms.joined(separator: " UNION ALL "))) ORDER BY \(order) LIMIT ?2"
    }

    /// The distinct types of queued tasks, one index seek each.
    static let queuedTypes = """
        WITH RECURSIVE queued(type) AS (
            SELECT (SELECT min(type) FROM tasks INDEXED BY tasks_ready_by_type_time WHERE status = 'queued')
            UNION ALL
            SELECT (
                SELECT min(type) FROM tasks INDEXED BY tasks_ready_by_type_time
                WHERE status = 'queued' AND type > queued.type
            )
            FROM queued WHERE queued.type IS NOT NULL
        )
        SELECT type FROM queued WHERE type IS NOT NULL LIMIT \(maxMergedTypes + 1)
        """

    /// The most per-type ranges one claim merges (SQLite allows 500 arms in a compound query).
    /// A claim over more queued types reads the ready set through one index instead.
    static let maxMergedTypes = 200

    /// Moves the candidates to `running`, each under a new lease with a random 53-bit fencing
    /// token, in one statement (read them back with ``tasksByIDs``). Arguments: worker, now, expiry, lease length in ms (what a
    /// renewal without a length extends by), the ids as a JSON array.
    static let take = """
        UPDATE tasks SET status = 'running', attempts = attempts + 1, claimed_by = ?1, claimed_at = ?2,
                         lease_expires_at = ?3, lease_token = (random() & 9007199254740990) + 1, lease_ms = ?4,
                         cancel_requested = 0
        WHERE id IN (SELECT value FROM json_each(?5)) AND status = 'queued'
        """

    /// The tasks of a JSON array of ids (reading them back is cheaper than `RETURNING`).
    static let tasksByIDs = "SELECT \(TaskRow.columns) FROM tasks WHERE id IN (SELECT value FROM json_each(?))"

    /// A `claimed` history row for each task just taken. Arguments: now, worker, the ids as a
    /// JSON array.
    static let logClaims = """
        INSERT INTO task_logs (task_id, event, at, worker_id, message)
        SELECT id, 'claimed', ?1, ?2, 'attempt ' || attempts || ' of ' || max_attempts
        FROM tasks WHERE id IN (SELECT value FROM json_each(?3))
        """

    /// The earliest `runAfter` of queued tasks of any type.
    static let nextReadyAnyType =
        "SELECT min(run_after) FROM tasks INDEXED BY tasks_ready_by_time WHERE status = 'queued'"

    /// The earliest `runAfter` of queued tasks among `typeCount` named types.
    static func nextReady(typeCount: Int) -> String {
        let arms = (0..<typeCount).map { _ in
            "SELECT (SELECT min(run_after) FROM tasks INDEXED BY tasks_ready_by_type_time WHERE status = 'queued' AND type = ?) AS m"
        }
        return "SELECT min(m) FROM (\(arms.joined(separator: " UNION ALL ")))"
    }

    /// Registers the claiming worker, or refreshes its heartbeat. Arguments: id, capabilities
    /// JSON, strategy, now.
    static let touchWorker = """
        INSERT INTO workers (id, capabilities, strategy, started_at, last_heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?4)
        ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, stopped_at = NULL,
                                       strategy = excluded.strategy, capabilities = excluded.capabilities
        """
}
