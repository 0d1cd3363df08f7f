import Foundation
import GRDB
import PrismQ

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

    /// Claims and completes every queued task: a claim transaction and a complete transaction
    /// per task, through the FIFO index.
    package static func claimAndComplete(_ store: SQLiteStore) async throws -> Int {
        var done = 0
        while true {
            let id: Int64? = try await store.pool.write { db in
                try Int64.fetchOne(
                    db.cachedStatement(
                        sql: """
                            UPDATE tasks SET status = 'running', attempts = attempts + 1
                            WHERE id = (SELECT id FROM tasks INDEXED BY tasks_ready_by_time
                                        WHERE status = 'queued' AND run_after <= ? ORDER BY run_after, id LIMIT 1)
                            RETURNING id
                            """
                    ),
                    arguments: [Int64.max]
                )
            }
            guard let id else { return done }
            try await store.pool.write { db in
                try db.cachedStatement(sql: "UPDATE tasks SET status = 'completed', completed_at = ? WHERE id = ?")
                    .execute(arguments: [Int64(Date().timeIntervalSince1970 * 1000), id])
            }
            done += 1
        }
    }
}
