import Foundation
import GRDB
import PrismQ

extension SQLiteStore {
    public func purge(finishedBefore cutoff: Date, limit: Int) async throws(QueueError) -> Int {
        let before = TaskRow.millis(cutoff)
        return try await write { db in
            var deleted = 0
            for status in [TaskStatus.completed, .dead, .cancelled] where deleted < limit {
                try db.cachedStatement(sql: MaintenanceSQL.purge).execute(arguments: [
                    status.rawValue, before, limit - deleted,
                ])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    public func maintain() async throws(QueueError) {
        try await write { db in
            // A bounded look at each index (about 400 rows), not a scan of a million-row table
            // (which would also pull the whole memory map into the server's resident memory).
            try db.execute(sql: "PRAGMA analysis_limit = 400; PRAGMA optimize")
        }
        // Once, without the retries of `checkpoint(_:)`: this runs on the writer, beside the
        // store's own background checkpoints.
        try await writeWithoutTransaction { db in _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") }
    }
}

/// The statements of maintenance.
enum MaintenanceSQL {
    /// Deletes the oldest finished tasks of one state (their logs go by cascade). Arguments:
    /// status, cutoff, limit.
    static let purge = """
        DELETE FROM tasks WHERE id IN (
            SELECT id FROM tasks INDEXED BY tasks_by_finish
            WHERE status = ? AND completed_at < ? ORDER BY completed_at LIMIT ?
        )
        """
}
