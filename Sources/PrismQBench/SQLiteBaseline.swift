import Foundation
import GRDB
import PrismQ
import PrismQSQLite

/// The raw-SQLite limit that `prismq bench` measures PrismQ against: the same statements on
/// the same schema and PRAGMAs through plain GRDB cached statements, without the queue's logic
/// (no validation, no logs, no idempotency, no leases).
package enum SQLiteBaseline {
    static let insert = """
        INSERT INTO tasks (type, payload, status, priority, max_attempts, created_at, run_after)
        VALUES ('bench', '{}', 'queued', 0, 3, ?, ?)
        """

    /// `count` single-row INSERTs, one transaction each.
    package static func insertOneByOne(_ store: SQLiteStore, count: Int) async throws {
        for _ in 0..<count {
            try await store.pool.write { db in
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try db.cachedStatement(sql: insert).execute(arguments: [now, now])
            }
        }
    }

    /// `count` INSERTs, 1000 per transaction.
    package static func insertInBatches(_ store: SQLiteStore, count: Int) async throws {
        for start in stride(from: 0, to: count, by: 1000) {
            let size = min(1000, count - start)
            try await store.pool.write { db in
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let statement = try db.cachedStatement(sql: insert)
                for _ in 0..<size {
                    try statement.execute(arguments: [now, now])
                }
            }
        }
    }

    static let claim = """
        UPDATE tasks SET status = 'running', attempts = attempts + 1
        WHERE id = (SELECT id FROM tasks INDEXED BY tasks_ready_by_time
                    WHERE status = 'queued' AND run_after <= ? ORDER BY run_after, id LIMIT 1)
        RETURNING id
        """
    static let complete = "UPDATE tasks SET status = 'completed', completed_at = ? WHERE id = ?"

    /// Claims and completes every queued task: a claim transaction and a complete transaction
    /// per task, through the FIFO index.
    package static func claimAndComplete(_ store: SQLiteStore) async throws -> Int {
        var done = 0
        while true {
            guard let id = try await claimOne(store) else { return done }
            try await store.pool.write { db in
                try db.cachedStatement(sql: complete).execute(arguments: [millisNow(), id])
            }
            done += 1
        }
    }

    /// Claims the first ready task (FIFO, any type) in a transaction of its own.
    package static func claimOne(_ store: SQLiteStore) async throws -> Int64? {
        try await store.pool.write { db in
            try Int64.fetchOne(db.cachedStatement(sql: claim), arguments: [Int64.max])
        }
    }

    /// Claims and completes every queued task, each transaction completing the task the
    /// previous one claimed and claiming the next.
    package static func completeAndClaimNext(_ store: SQLiteStore) async throws -> Int {
        var done = 0
        var previous: Int64?
        repeat {
            let last = previous
            previous = try await store.pool.write { db in
                if let last { try db.cachedStatement(sql: complete).execute(arguments: [millisNow(), last]) }
                return try Int64.fetchOne(db.cachedStatement(sql: claim), arguments: [Int64.max])
            }
            if last != nil { done += 1 }
        } while previous != nil
        return done
    }

    /// Fills the queue with `count` ready tasks spread over `types`, with random priorities
    /// (0–9) and weighted-random keys, in transactions of 100,000 rows, then checkpoints the
    /// WAL into the database file (so that what is measured next does not share the machine
    /// with copying it).
    package static func fill(_ store: SQLiteStore, count: Int, types: [String]) async throws {
        let typeList = JSONText.array(types.map(JSONText.quoted))
        for start in stride(from: 0, to: count, by: 100_000) {
            let size = min(100_000, count - start)
            try await store.pool.write { db in
                try db.execute(
                    sql: """
                        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                        INSERT INTO tasks (type, payload, status, priority, max_attempts, created_at, run_after, sched_key)
                        SELECT json_extract(?2, '$[' || (i % json_array_length(?2)) || ']'), '{}', 'queued',
                               abs(random() % 10), 3, 0, 0, (abs(random()) % 1000000) / 1000.0
                        FROM n
                        """,
                    arguments: [size, typeList]
                )
            }
        }
        try await store.pool.writeWithoutTransaction { db in
            _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Makes every queued task ready now (the bench holds tasks back until its workers are up).
    package static func makeQueuedReady(_ store: SQLiteStore) async throws {
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE tasks SET run_after = ? WHERE status = 'queued'", arguments: [millisNow()])
        }
    }

    /// How many tasks have this status.
    package static func count(_ store: SQLiteStore, status: String) async throws -> Int {
        try await store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks WHERE status = ?", arguments: [status]) ?? 0
        }
    }

    private static func millisNow() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
