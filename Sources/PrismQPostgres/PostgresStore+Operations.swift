import Foundation
import PostgresNIO
import PrismQ

// The worker registry, readiness and maintenance.
extension PostgresStore {
    public func register(_ worker: WorkerRegistration) async throws(QueueError) {
        let pid = worker.pid.map(Int64.init)
        try await read(writing: true) { [logger] connection, now in
            try await connection.rows(
                """
                INSERT INTO workers (id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at)
                VALUES (\(worker.id), \(worker.hostname), \(pid), \(worker.capabilities), \(worker.strategy?.rawValue),
                        \(now), \(now))
                ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
                    capabilities = excluded.capabilities, strategy = excluded.strategy,
                    started_at = excluded.started_at, last_heartbeat_at = excluded.last_heartbeat_at, stopped_at = NULL
                """, logger)
        }
    }

    public func workerHeartbeat(id: String) async throws(QueueError) {
        try await read(writing: true) { [logger] connection, now in
            try await connection.rows(
                "UPDATE workers SET last_heartbeat_at = \(now), stopped_at = NULL WHERE id = \(id)", logger)
        }
    }

    public func workerStopped(id: String) async throws(QueueError) {
        try await read(writing: true) { [logger] connection, now in
            try await connection.rows(
                "UPDATE workers SET stopped_at = \(now), last_heartbeat_at = \(now) WHERE id = \(id)", logger)
        }
    }

    public func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration? {
        let types = Array(Set(capabilities)).sorted()
        return try await read { [logger, readsServerClock] connection, now in
            // Ready by the store's reading or by the server's clock, as a claim takes it.
            let filter: PostgresQuery =
                types.isEmpty
                ? """
                SELECT min(run_after), floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint
                FROM tasks WHERE status = 'queued'
                """
                : """
                SELECT min(run_after), floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint
                FROM tasks WHERE status = 'queued' AND type = ANY(\(types))
                """
            let (next, serverNow) = try await connection.rows(filter, logger)[0].decode((Int64?, Int64).self)
            let reference = readsServerClock ? max(now, serverNow) : now
            return next.map { .milliseconds(max(0, $0 - reference)) }
        }
    }

    public func requeueExpired(limit: Int) async throws(QueueError) -> Int {
        try await transaction { [self] connection, now in
            // Locked rows are another sweeper's: skipped, so sweepers on many hosts never collide.
            let expired = try await connection.tasks(
                """
                SELECT \(unescaped: TaskColumns.list) FROM tasks
                WHERE status = 'running' AND lease_expires_at < \(now)
                ORDER BY lease_expires_at LIMIT \(Int64(max(1, limit))) FOR UPDATE SKIP LOCKED
                """, logger)
            for task in expired {
                try await apply(
                    .expired(task, now: now), to: task, now: now, connection: connection, logger: logger)
            }
            return expired.count
        }
    }

    public func purge(_ selection: PurgeSelection, limit: Int) async throws(QueueError) -> Int {
        let (status, before, only, excluded) = Self.purgeArguments(selection)
        return try await transaction { [logger] connection, _ in
            let rows = try await connection.rows(
                """
                WITH gone AS (
                    DELETE FROM tasks WHERE id IN (
                        SELECT id FROM tasks
                        WHERE status = \(status) AND completed_at < \(before)
                          AND (\(only)::text IS NULL OR type = \(only)) AND NOT (type = ANY(\(excluded)))
                        ORDER BY completed_at LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED
                    ) RETURNING 1
                )
                SELECT count(*) FROM gone
                """, logger)
            return Int(try rows[0].decode(Int64.self))
        }
    }

    public func countPurgeable(_ selection: PurgeSelection) async throws(QueueError) -> Int {
        let (status, before, only, excluded) = Self.purgeArguments(selection)
        return try await read { [logger] connection, _ in
            let rows = try await connection.rows(
                """
                SELECT count(*) FROM tasks
                WHERE status = \(status) AND completed_at < \(before)
                  AND (\(only)::text IS NULL OR type = \(only)) AND NOT (type = ANY(\(excluded)))
                """, logger)
            return Int(try rows[0].decode(Int64.self))
        }
    }

    /// A purge selection's bound values: status, cutoff, the one type or nil, the types left out.
    private static func purgeArguments(_ selection: PurgeSelection) -> (String, Int64, String?, [String]) {
        switch selection.types {
        case .only(let type):
            (selection.status.rawValue, TaskColumns.millis(selection.finishedBefore), type, [])
        case .allExcept(let types):
            (selection.status.rawValue, TaskColumns.millis(selection.finishedBefore), nil, types.sorted())
        }
    }

    public func recordRetention(_ policy: RetentionPolicy, at date: Date) async throws(QueueError) {
        let (rules, at) = (policy.rules, TaskColumns.millis(date))
        try await transaction { [logger] connection, _ in
            _ = try await connection.rows(
                """
                INSERT INTO settings (name, value, recorded_at) VALUES ('retention', \(rules), \(at))
                ON CONFLICT (name) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at
                """, logger)
        }
    }

    public func recordedRetention() async throws(QueueError) -> RecordedRetention? {
        try await read { [logger] connection, _ in
            let rows = try await connection.rows(
                "SELECT value, recorded_at FROM settings WHERE name = 'retention'", logger)
            return try rows.first.map { row in
                let (rules, at) = try row.decode((String, Int64).self)
                return RecordedRetention(rules: rules, recordedAt: Date(timeIntervalSince1970: Double(at) / 1000))
            }
        }
    }

    /// Nothing to do here: PostgreSQL's autovacuum keeps the tables and their statistics.
    public func maintain() async throws(QueueError) {}
}
