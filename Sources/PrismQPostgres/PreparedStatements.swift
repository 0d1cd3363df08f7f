import PostgresNIO
import PrismQ

/// A statement of the hot path, prepared once per connection: PostgreSQL parses and plans it
/// on its first use there, and each later call sends only its values. Planning the claim
/// statement costs about as much as running it.
///
/// Names are short and explicit: the server keeps only a name's first 63 bytes.
protocol PreparedQuery: PostgresPreparedStatement where Row == PostgresRow {
    /// The statement's values, in the order of ``PostgresPreparedStatement/bindingDataTypes``.
    var bindings: PostgresBindings { get }
}

extension PreparedQuery {
    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs a prepared statement (preparing it on this connection first if needed) and reads every row.
    ///
    /// A failure closes the connection (the pool opens another): postgres-nio 1.33.2 keeps the
    /// error of a statement whose preparation failed, and answers every later use of it on the
    /// connection with that error, so a passing fault (a lock timeout, a table being changed)
    /// would otherwise break that statement on the connection for good.
    @discardableResult
    func rows<Statement: PreparedQuery>(_ statement: Statement, _ logger: Logger) async throws -> [PostgresRow] {
        do {
            var rows: [PostgresRow] = []
            for try await row in try await execute(statement, logger: logger) { rows.append(row) }
            return rows
        } catch {
            try? await close()
            throw error
        }
    }
}

/// The order in which a claim takes ready tasks: one per strategy, as a type, so that each
/// strategy's claim is a statement of its own.
protocol ClaimOrder {
    /// A short name, for the statement's name.
    static var name: String { get }
    /// The `ORDER BY` list over the `tasks` table.
    static var orderBy: String { get }
    /// Whether a claim moves the weighted race's virtual time.
    static var advancesRace: Bool { get }
}

extension ClaimOrder {
    static var advancesRace: Bool { false }
}

enum OldestFirst: ClaimOrder {
    static let name = "fifo"
    static let orderBy = "run_after, id"
}

enum NewestFirst: ClaimOrder {
    static let name = "lifo"
    static let orderBy = "run_after DESC, id DESC"
}

enum HighestPriorityFirst: ClaimOrder {
    static let name = "priority"
    static let orderBy = "priority DESC, run_after, id"
}

enum WeightedRace: ClaimOrder {
    static let name = "weighted"
    static let orderBy = "sched_key"
    static let advancesRace = true
}

/// Which task types a claim takes: any, or those named in its fifth value.
protocol ClaimScope {
    /// A short name, for the statement's name.
    static var name: String { get }
    /// The condition on `type`, appended to the `WHERE` clause.
    static var filter: String { get }
}

enum AnyType: ClaimScope {
    static let name = "any"
    static let filter = ""
}

enum NamedTypes: ClaimScope {
    static let name = "named"
    static let filter = "AND type = ANY($5)"
}

/// The parts of the claim and complete statements, shared by the statements that combine them.
enum SettleSQL {
    /// Claims: picks the ready tasks in `order`, skipping those another transaction has
    /// locked, moves them to `running` under fresh leases (CTE `taken`, with their scheduling
    /// keys), logs the claims and refreshes the worker's registry row.
    ///
    /// Values: $1 now, $2 how many, $3 worker id, $4 lease expiry, $5 task types, $6 lease
    /// length (ms), $7 strategy, $8 whether `now` is the server's time as this host carries it
    /// (``DatabaseClock``): then a task is ready by the server's own clock too, so that a host
    /// whose reading lags still sees at once a task another host has just made ready.
    static func claim(order: any ClaimOrder.Type, scope: any ClaimScope.Type) -> String {
        // The race's virtual time moves up to the largest key taken.
        let advance =
            order.advancesRace
            ? """
            , advanced AS (
                UPDATE scheduler SET virtual_time = greatest(virtual_time, (SELECT max(sched_key) FROM taken))
                WHERE id = 1 AND EXISTS (SELECT 1 FROM taken)
            )
            """ : ""
        return """
            worker AS (
                INSERT INTO workers (id, capabilities, strategy, started_at, last_heartbeat_at)
                VALUES ($3, $5, $7, $1, $1)
                ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, stopped_at = NULL,
                    strategy = excluded.strategy, capabilities = excluded.capabilities
            ), picked AS (
                SELECT id FROM tasks WHERE status = 'queued' \(scope.filter) AND run_after <= CASE WHEN $8
                    THEN greatest($1, floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint) ELSE $1 END
                ORDER BY \(order.orderBy) LIMIT $2 FOR UPDATE SKIP LOCKED
            ), taken AS (
                UPDATE tasks SET status = 'running', attempts = tasks.attempts + 1, claimed_by = $3, claimed_at = $1,
                    lease_expires_at = $4, lease_token = 1 + floor(random() * 9007199254740990)::bigint,
                    lease_ms = $6, cancel_requested = false
                FROM picked WHERE tasks.id = picked.id
                RETURNING \(TaskColumns.qualified("tasks")), tasks.sched_key
            ), claim_logged AS (
                INSERT INTO task_logs (task_id, event, at, worker_id, message)
                SELECT id, 'claimed', $1, $3, 'attempt ' || attempts || ' of ' || max_attempts FROM taken
            )\(advance)
            """
    }

    /// Completes the tasks whose lease is current (CTE `done`, with the tokens that completed
    /// them), and logs them. Results are matched to leases by token, so a stale lease of a
    /// task never lends it its result. The rows are locked in id order first, as every
    /// statement that locks several tasks does, so that it never deadlocks with a renewal.
    ///
    /// Values: $1 now; from `$first` on: task ids, lease tokens, whether each has a result, the results.
    static func complete(from first: Int) -> String {
        let (ids, tokens, hasResult, results) = ("$\(first)", "$\(first + 1)", "$\(first + 2)", "$\(first + 3)")
        return """
            locked AS (
                SELECT id FROM tasks WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE
            ), done AS (
                UPDATE tasks SET status = 'completed', completed_at = $1,
                    result = CASE WHEN lease.has_result THEN lease.result END,
                    lease_token = NULL, lease_expires_at = NULL
                FROM unnest(\(ids)::bigint[], \(tokens)::bigint[], \(hasResult)::boolean[], \(results)::text[])
                    AS lease (id, token, has_result, result)
                WHERE tasks.id = lease.id AND tasks.id IN (SELECT id FROM locked)
                    AND tasks.lease_token = lease.token AND tasks.status = 'running'
                RETURNING \(TaskColumns.qualified("tasks")), lease.token
            ), complete_logged AS (
                INSERT INTO task_logs (task_id, event, at, worker_id) SELECT id, 'completed', $1, claimed_by FROM done
            )
            """
    }

    /// The rows of a completion statement (after ``complete(from:)``, whose task ids are
    /// `ids`): each completed task with the token that completed it (kind `done`), and each
    /// task of a lease that was not current, as it was (kind `lost`). Every row is the task
    /// (``TaskColumns/list``), a token, a scheduling key and its kind, as ``SettleRows`` reads them.
    static func completionRows(ids: String) -> String {
        """
        SELECT \(TaskColumns.list), token, NULL::double precision, 'done' FROM done
        UNION ALL
        SELECT \(TaskColumns.list), NULL::bigint, NULL::double precision, 'lost' FROM tasks
        WHERE id = ANY(\(ids)) AND id NOT IN (SELECT id FROM done)
        """
    }

    /// The values of ``claim(order:scope:)`` for `request`, at `now` (the server's time as
    /// carried by this host when `serverClock`, else an injected clock's).
    static func claimBindings(
        _ request: ClaimRequest, types: [String], now: Int64, serverClock: Bool
    ) -> PostgresBindings {
        let leaseMillis = TaskColumns.millis(request.leaseDuration)
        var binds = PostgresBindings()
        binds.append(now)
        binds.append(Int64(request.maxTasks))
        binds.append(request.workerID)
        binds.append(now + leaseMillis)
        binds.append(types)
        binds.append(leaseMillis)
        binds.append(request.strategy.rawValue)
        binds.append(serverClock)
        return binds
    }

    /// Appends the values of ``complete(from:)`` for `completions`.
    static func appendCompletions(_ completions: [(LeaseID, RawJSON?)], to binds: inout PostgresBindings) {
        binds.append(completions.map(\.0.taskID))
        binds.append(completions.map(\.0.token))
        binds.append(completions.map { $0.1 != nil })
        binds.append(completions.map { $0.1?.text ?? "" })
    }

    static let claimTypes: [PostgresDataType] = [.int8, .int8, .text, .int8, .textArray, .int8, .text, .bool]
    static let completeTypes: [PostgresDataType] = [.int8Array, .int8Array, .boolArray, .textArray]
}

/// Claims in one statement (``SettleSQL/claim(order:scope:)``). Rows: the tasks
/// (``TaskColumns/list``), then their scheduling keys.
struct ClaimStatement<Order: ClaimOrder, Scope: ClaimScope>: PreparedQuery {
    static var name: String { "prismq_claim_\(Order.name)_\(Scope.name)" }
    static var bindingDataTypes: [PostgresDataType] { SettleSQL.claimTypes }
    static var sql: String { "WITH " + SettleSQL.claim(order: Order.self, scope: Scope.self) + " SELECT * FROM taken" }

    let bindings: PostgresBindings
}

/// Completes in one statement (``SettleSQL/complete(from:)``). Values: now, then the
/// completions'. Rows: ``SettleSQL/completionRows(ids:)``.
struct CompleteStatement: PreparedQuery {
    static let name = "prismq_complete"
    static let bindingDataTypes: [PostgresDataType] = [.int8] + SettleSQL.completeTypes
    static let sql = "WITH " + SettleSQL.complete(from: 2) + SettleSQL.completionRows(ids: "$2")

    let bindings: PostgresBindings
}

/// A worker's whole round in one statement, atomic without a transaction: completes some
/// leases and claims the next tasks. Values: the claim's, then the completions'. Rows:
/// ``SettleSQL/completionRows(ids:)``, then each claimed task with its scheduling key (kind
/// `taken`).
///
/// The claim sees the tasks as they were when the statement began, also when locking the
/// completed rows made it wait: a task made ready during that wait is left for the next claim.
struct CompleteAndClaimStatement<Order: ClaimOrder, Scope: ClaimScope>: PreparedQuery {
    static var name: String { "prismq_settle_\(Order.name)_\(Scope.name)" }
    static var bindingDataTypes: [PostgresDataType] { SettleSQL.claimTypes + SettleSQL.completeTypes }
    static var sql: String {
        """
        WITH \(SettleSQL.claim(order: Order.self, scope: Scope.self)), \(SettleSQL.complete(from: 9))
        \(SettleSQL.completionRows(ids: "$9"))
        UNION ALL
        SELECT \(TaskColumns.list), NULL::bigint, sched_key, 'taken' FROM taken
        """
    }

    let bindings: PostgresBindings
}

/// Inserts one task with its `enqueued` history row; returns its id, or no row when its
/// idempotency key already names a task.
///
/// Values: type, payload, priority, attempt budget, idempotency key, now, run after, timeout (ms).
struct InsertTaskStatement: PreparedQuery {
    static let name = "prismq_insert_task"
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .int8, .int8, .text, .int8, .int8, .int8]
    static let sql = """
        WITH inserted AS (
            INSERT INTO tasks (type, payload, status, priority, max_attempts, idempotency_key, created_at,
                               run_after, timeout_ms, sched_key)
            VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, \(TaskColumns.schedulingKey(priority: "$3")))
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
        ), logged AS (
            INSERT INTO task_logs (task_id, event, at) SELECT id, 'enqueued', $6 FROM inserted
        )
        SELECT id FROM inserted
        """

    let bindings: PostgresBindings
}

/// Locks the rows of some tasks in id order. Values: the task ids.
struct LockInOrderStatement: PreparedQuery {
    static let name = "prismq_lock_in_order"
    static let bindingDataTypes: [PostgresDataType] = [.int8Array]
    static let sql = "SELECT id FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE"

    let bindings: PostgresBindings
}

/// A statement that proves the statements before it on the connection committed (see
/// ``PostgresStore/read(writing:announcing:_:)``).
struct CommitProbeStatement: PreparedQuery {
    static let name = "prismq_probe"
    static let sql = "SELECT 1"

    var bindings: PostgresBindings { PostgresBindings() }
}

/// Tells every listener on a channel that tasks became ready. Values: the channel.
struct AnnounceStatement: PreparedQuery {
    static let name = "prismq_announce"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    static let sql = "SELECT pg_notify($1, '')"

    let bindings: PostgresBindings
}

/// What a completion statement's rows say (``SettleSQL/completionRows(ids:)``, and the
/// claimed tasks of ``CompleteAndClaimStatement``).
struct SettleRows {
    /// The completed tasks, by the lease that completed them.
    var completed: [LeaseID: QueueTask] = [:]
    /// The status of each task named by a completion, as the statement left it.
    var statuses: [Int64: TaskStatus] = [:]
    /// The claimed tasks, with their scheduling keys.
    var taken: [(QueueTask, Double)] = []

    init(_ rows: [PostgresRow]) throws {
        for row in rows {
            let task = try TaskColumns.decode(row)
            let cells = row.makeRandomAccess()
            switch try cells[22].decode(String.self) {
            case "taken": taken.append((task, try cells[21].decode(Double.self)))
            case "done":
                completed[LeaseID(taskID: task.id, token: try cells[20].decode(Int64.self))] = task
                statuses[task.id] = task.status
            default: statuses[task.id] = task.status
            }
        }
    }

    /// The outcome of completing `lease`: the task, or `leaseLost` (`notFound` for a task that
    /// does not exist).
    func outcome(of lease: LeaseID) -> Result<QueueTask, QueueError> {
        if let task = completed[lease] { return .success(task) }
        return .failure(PostgresStore.leaseLost(lease.taskID, status: statuses[lease.taskID]))
    }
}
