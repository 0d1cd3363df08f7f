import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

/// The schema as each version shipped, frozen here and never taken from ``SQLiteSchema``:
/// files made by every one of them exist, and the migrations must bring each up to date.
enum ShippedSchema {
    /// Version 1 as it first shipped, before `lease_ms` joined it in place.
    static let version1WithoutLeaseMS = """
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

    /// Version 1 as it shipped later, with `lease_ms`.
    static let version1 = version1WithoutLeaseMS.replacingOccurrences(
        of: "lease_token INTEGER,\n", with: "lease_token INTEGER,\n    lease_ms INTEGER,\n")

    /// Migration 2.
    static let version2 = """
        DROP INDEX task_logs_by_event;
        CREATE INDEX task_logs_failures ON task_logs (event, at) WHERE event = 'failed' OR event = 'expired';
        """

    /// Migration 3.
    static let version3 = """
        DROP INDEX IF EXISTS tasks_ready_by_type_key;
        """

    /// A file of each schema version that shipped, as the code of that time left it.
    enum File: String, CaseIterable, CustomStringConvertible {
        case version1WithoutLeaseMS, version1, version2, version3, version4

        var description: String { rawValue }

        /// The DDL that made it, in order, and the `user_version` it recorded.
        var statements: (ddl: [String], version: Int) {
            switch self {
            case .version1WithoutLeaseMS: ([ShippedSchema.version1WithoutLeaseMS], 1)
            case .version1: ([ShippedSchema.version1], 1)
            case .version2: ([ShippedSchema.version1, ShippedSchema.version2], 2)
            case .version3: ([ShippedSchema.version1, ShippedSchema.version2, ShippedSchema.version3], 3)
            // Migration 4 only adds `lease_ms` where version 1 lacked it.
            case .version4: ([ShippedSchema.version1, ShippedSchema.version2, ShippedSchema.version3], 4)
            }
        }

        /// Makes the file at `path`, then runs `body` on it before it is closed.
        func make(at path: String, then body: (Database) throws -> Void = { _ in }) throws {
            let (ddl, version) = statements
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                for statement in ddl {
                    try db.execute(sql: statement)
                }
                try db.execute(sql: "PRAGMA user_version = \(version)")
                try body(db)
            }
            try queue.close()
        }
    }
}

@Suite("SQLite schema migrations from every shipped version", .timeLimit(.minutes(5)))
struct MigrationTests {
    let directory = TemporaryDirectory()

    @Test(arguments: ShippedSchema.File.allCases)
    func aFileOfEveryShippedVersionMigratesAndItsTasksRun(file: ShippedSchema.File) async throws {
        let path = directory.file("\(file).db")
        try file.make(at: path) { db in
            try db.execute(
                sql:
                    "INSERT INTO tasks (type, payload, status, created_at, run_after) VALUES ('t', '{}', 'queued', 0, 0)"
            )
            #expect(try Self.leaseColumns(db) == (file == .version1WithoutLeaseMS ? 0 : 1), "the fixture is as shipped")
        }
        let store = try SQLiteStore(path: path)
        let leases = try await store.claim(ClaimRequest(workerID: "w"))
        try #require(leases.count == 1)
        let done = try await store.complete(leases[0].id, result: nil)
        #expect(done.status == .completed)
        let (version, leaseColumns) = try await store.pool.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"), try Self.leaseColumns(db))
        }
        #expect(version == SQLiteSchema.currentVersion)
        #expect(leaseColumns == 1)
        try await store.recordRetention(RetentionPolicy(), at: Date(timeIntervalSince1970: 1))
        #expect(try await store.recordedRetention()?.rules == RetentionPolicy().rules, "the settings table is there")
    }

    /// How many `lease_ms` columns `tasks` has.
    static func leaseColumns(_ db: Database) throws -> Int? {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_table_info('tasks') WHERE name = 'lease_ms'")
    }
}
