import GRDB
import PrismQ

/// The database schema, as numbered migrations recorded in `PRAGMA user_version`.
///
/// Migrations run in one `IMMEDIATE` transaction, so several processes opening a new file at
/// once apply them exactly once. A database whose version is newer than the code is refused.
///
/// Migrations are append-only: one that has shipped is never edited, since files made by it
/// exist. A change is a new migration at the end.
enum SQLiteSchema {
    /// One migration: SQL, or Swift for what SQL cannot say (a step that looks at the schema).
    enum Migration: Sendable {
        case sql(String)
        case step(@Sendable (Database) throws -> Void)
    }

    /// The migrations in order; the schema version is the count applied.
    static let migrations: [Migration] = [
        .sql(version1), .sql(version2), .sql(version3), .step(version4), .sql(version5),
    ]

    /// The version this code writes.
    static var currentVersion: Int { migrations.count }

    /// Brings the database up to ``currentVersion``.
    ///
    /// - Throws: `storage` when the database is newer than this code.
    static func migrate(_ db: Database, path: String) throws {
        try db.inTransaction(.immediate) {
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            guard version >= 0, version <= currentVersion else {
                throw QueueError(
                    .storage,
                    "The database \(path) has schema version \(version), newer than this PrismQ understands "
                        + "(\(currentVersion)); use a newer PrismQ."
                )
            }
            for migration in migrations[version...] {
                switch migration {
                case .sql(let sql): try db.execute(sql: sql)
                case .step(let step): try step(db)
                }
            }
            if version < currentVersion {
                try db.execute(sql: "PRAGMA user_version = \(currentVersion)")
            }
            return .commit
        }
    }

    /// Tasks, their logs and the worker registry. Times are integer milliseconds since 1970.
    static let version1 = """
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'dead', 'cancelled')),
            priority INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 3,
            idempotency_key TEXT,
            created_at INTEGER NOT NULL,
            run_after INTEGER NOT NULL,
            claimed_by TEXT,
            claimed_at INTEGER,
            lease_expires_at INTEGER,
            lease_token INTEGER,
            lease_ms INTEGER,
            completed_at INTEGER,
            last_error TEXT,
            result TEXT,
            timeout_ms INTEGER,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            sched_key REAL NOT NULL DEFAULT 0,
            weight INTEGER GENERATED ALWAYS AS (max(1, priority)) VIRTUAL
        );
        CREATE UNIQUE INDEX tasks_by_idempotency_key ON tasks (idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX tasks_by_status ON tasks (status, id);
        CREATE INDEX tasks_by_type ON tasks (type, status, id);
        CREATE INDEX tasks_ready_by_time ON tasks (run_after, id) WHERE status = 'queued';
        CREATE INDEX tasks_ready_by_type_time ON tasks (type, run_after, id) WHERE status = 'queued';
        CREATE INDEX tasks_ready_by_type_priority ON tasks (type, priority DESC, run_after, id)
            WHERE status = 'queued';
        CREATE INDEX tasks_ready_by_type_key ON tasks (type, sched_key) WHERE status = 'queued';
        CREATE INDEX tasks_running_by_lease ON tasks (lease_expires_at) WHERE status = 'running';
        CREATE INDEX tasks_running_by_worker ON tasks (claimed_by) WHERE status = 'running';
        CREATE INDEX tasks_by_finish ON tasks (status, completed_at) WHERE completed_at IS NOT NULL;

        CREATE TABLE task_logs (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            event TEXT NOT NULL,
            at INTEGER NOT NULL,
            worker_id TEXT,
            message TEXT
        );
        CREATE INDEX task_logs_by_task ON task_logs (task_id, id);
        CREATE INDEX task_logs_by_event ON task_logs (event, at);

        CREATE TABLE workers (
            id TEXT PRIMARY KEY NOT NULL,
            hostname TEXT,
            pid INTEGER,
            capabilities TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(capabilities)),
            strategy TEXT,
            started_at INTEGER NOT NULL,
            last_heartbeat_at INTEGER NOT NULL,
            stopped_at INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX workers_by_heartbeat ON workers (last_heartbeat_at);

        CREATE TABLE scheduler (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            virtual_time REAL NOT NULL
        );
        INSERT INTO scheduler (id, virtual_time) VALUES (1, 0);
        """

    /// Only the events `stats()` and `throughput(minutes:)` count (`failed`, `expired`) in the
    /// event index: the `enqueued`, `claimed` and `completed` rows that every task writes no
    /// longer add a page to their commits.
    static let version2 = """
        DROP INDEX task_logs_by_event;
        CREATE INDEX task_logs_failures ON task_logs (event, at) WHERE event = 'failed' OR event = 'expired';
        """

    /// The weighted-random key index leaves the schema: it is built on the first
    /// weighted-random claim instead (``weightedRandomIndex``). Its keys are random, so every
    /// enqueue and every claim wrote a random page of it, which cost queues that never claim
    /// by weighted random about a third of their enqueue rate.
    static let version3 = """
        DROP INDEX IF EXISTS tasks_ready_by_type_key;
        """

    /// Adds `lease_ms` where it is missing. The column joined ``version1`` in place after that
    /// version had shipped, so version 1 files made before have no such column, and every
    /// claim (which writes it) failed on them.
    static func version4(_ db: Database) throws {
        let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('tasks')")
        if !columns.contains("lease_ms") {
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN lease_ms INTEGER")
        }
    }

    /// Settings a process records for others to see, by name: today the retention policy a
    /// maintenance round applied (``SettingsSQL``), which `prismq check` shows.
    static let version5 = """
        CREATE TABLE settings (
            name TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL,
            recorded_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """

    /// Whether the file holds a PrismQ queue, or nothing yet: schema version 1 or more and a
    /// `tasks` table, or version 0 and no schema at all. Anything else is another
    /// application's database.
    static func isQueueOrEmpty(_ db: Database) throws -> Bool {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard version >= 1 else {
            return try version == 0 && Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0
        }
        return try Bool.fetchOne(
            db, sql: "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"
        ) ?? false
    }

    /// The index weighted-random claims read, in the strategy's order; made by the first such
    /// claim on the file (see ``SQLiteStore``), then kept by SQLite like any other.
    static let weightedRandomIndex = """
        CREATE INDEX IF NOT EXISTS tasks_ready_by_type_key ON tasks (type, sched_key) WHERE status = 'queued'
        """

    /// Whether the file has the weighted-random index.
    static func hasWeightedRandomIndex(_ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'index' AND name = 'tasks_ready_by_type_key'"
        ) ?? false
    }
}
