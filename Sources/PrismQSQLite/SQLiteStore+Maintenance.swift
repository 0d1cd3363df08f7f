import Foundation
import GRDB
import PrismQ

extension SQLiteStore {
    public func purge(_ selection: PurgeSelection, limit: Int) async throws(QueueError) -> Int {
        let arguments = StatementArguments(MaintenanceSQL.arguments(selection) + [limit])
        return try await write { db in
            try db.cachedStatement(sql: MaintenanceSQL.purge).execute(arguments: arguments)
            return db.changesCount
        }
    }

    public func countPurgeable(_ selection: PurgeSelection) async throws(QueueError) -> Int {
        let arguments = StatementArguments(MaintenanceSQL.arguments(selection))
        return try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: MaintenanceSQL.countPurgeable), arguments: arguments) ?? 0
        }
    }

    public func recordRetention(_ policy: RetentionPolicy, at date: Date) async throws(QueueError) {
        try await write { db in
            try db.execute(
                sql: SettingsSQL.record, arguments: [SettingsSQL.retention, policy.rules, TaskRow.millis(date)])
        }
    }

    public func recordedRetention() async throws(QueueError) -> RecordedRetention? {
        try await read { db in try SettingsSQL.recordedRetention(db) }
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
    /// The tasks a ``PurgeSelection`` names. Arguments: status, cutoff, the one type or NULL,
    /// the JSON array of types left out.
    private static let selected = """
        FROM tasks INDEXED BY tasks_by_finish
        WHERE status = ?1 AND completed_at < ?2 AND (?3 IS NULL OR type = ?3)
          AND type NOT IN (SELECT value FROM json_each(?4))
        """

    /// Deletes the oldest finished tasks of a selection (their logs go by cascade). Arguments:
    /// those of the selection, then the limit.
    static let purge = """
        DELETE FROM tasks WHERE id IN (SELECT id \(selected) ORDER BY completed_at LIMIT ?5)
        """

    /// Counts the tasks of a selection.
    static let countPurgeable = "SELECT count(*) \(selected)"

    /// The arguments of `selection` for ``purge`` and ``countPurgeable``.
    static func arguments(_ selection: PurgeSelection) -> [(any DatabaseValueConvertible)?] {
        let (only, excluded): (String?, [String]) =
            switch selection.types {
            case .only(let type): (type, [])
            case .allExcept(let types): (nil, types.sorted())
            }
        return [
            selection.status.rawValue, TaskRow.millis(selection.finishedBefore), only,
            JSONText.array(excluded.map(JSONText.quoted)),
        ]
    }
}

/// The statements of the `settings` table.
enum SettingsSQL {
    /// The name the retention policy is recorded under.
    static let retention = "retention"

    /// Records a setting in place of its last value. Arguments: name, value, time.
    static let record = """
        INSERT INTO settings (name, value, recorded_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at
        """

    /// The retention last recorded in `db`, `nil` when none was (or the file's schema is
    /// older than the `settings` table).
    static func recordedRetention(_ db: Database) throws -> RecordedRetention? {
        guard try db.tableExists("settings"),
            let row = try Row.fetchOne(
                db, sql: "SELECT value, recorded_at FROM settings WHERE name = ?", arguments: [retention])
        else { return nil }
        return RecordedRetention(rules: row[0], recordedAt: Date(timeIntervalSince1970: Double(row[1] as Int64) / 1000))
    }
}
