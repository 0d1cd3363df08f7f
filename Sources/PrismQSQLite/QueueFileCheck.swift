import Foundation
import GRDB
import PrismQ

/// What a check of a SQLite queue's file found: its figures, the problems (each with what to
/// do) and notes that need no action now.
public struct QueueCheckReport: Sendable {
    /// Something wrong, and what to do about it.
    public struct Finding: Sendable, Equatable {
        public var problem: String
        public var advice: String
    }

    /// The file checked.
    public var path: String
    /// The database file's size, its log's and its free pages', in bytes.
    public var fileBytes: Int64 = 0
    public var walBytes: Int64 = 0
    public var freeBytes: Int64 = 0
    /// Settings kept in the file (the others are set by each connection's PRAGMA profile).
    public var pageSize = 0
    public var journalMode = ""
    public var autoVacuum = ""
    /// The schema version, `nil` when the file could not be read that far.
    public var schemaVersion: Int?
    /// `PRAGMA integrity_check`'s findings: `["ok"]` when there are none.
    public var integrity: [String] = []
    /// Tasks by status.
    public var tasks: [TaskStatus: Int] = [:]
    /// The task that has been ready longest: its type and how long, in seconds.
    public var oldestReady: (type: String, seconds: Double)?
    /// Running tasks whose lease ran out more than the grace ago (nothing swept them).
    public var expiredLeases = 0
    /// The retention policy a maintenance round last applied, `nil` when none has.
    public var retention: RecordedRetention?
    /// Registered workers, not stopped, silent past the stale limit: id and seconds silent.
    public var staleWorkers: [(id: String, seconds: Double)] = []
    /// What is wrong (the command exits non-zero), and what is worth knowing.
    public var problems: [Finding] = []
    public var notes: [Finding] = []
}

/// The limits past which ``QueueFileCheck`` calls something a problem.
public struct QueueCheckLimits: Sendable {
    /// A ready task waiting longer means nothing is draining its type. Default: 1 hour.
    public var readyAge: Duration = .seconds(3600)
    /// How long past its lease a running task may stay before the check says no sweeper
    /// runs. Default: 2 minutes (sweepers run every few seconds).
    public var leaseGrace: Duration = .seconds(120)
    /// How long a worker may stay silent before it is stale: the registry's limit. Default: 30 s.
    public var workerStaleAfter: Duration = .seconds(30)
    /// A log larger than this and than the database file is a problem. Default: 64 MiB.
    public var walBytes: Int64 = 64 << 20
    /// A retention last applied longer ago than this earns a note (no server purges the
    /// queue any more). Default: 1 day.
    public var retentionAge: Duration = .seconds(86400)

    /// The default limits.
    public init() {}
}

/// Checks a SQLite queue's file without changing it: `prismq check`.
public enum QueueFileCheck {
    /// The schema version this code writes.
    public static var currentSchemaVersion: Int { SQLiteSchema.currentVersion }

    /// Checks the file at `path` on a read-only connection (no migration, no change of mode).
    ///
    /// - Throws: `storage` when there is no file; every other finding is in the report.
    public static func run(
        path: String, limits: QueueCheckLimits = QueueCheckLimits(), now: Date = Date()
    ) throws(QueueError) -> QueueCheckReport {
        guard FileManager.default.fileExists(atPath: path) else {
            throw QueueError(.storage, "There is no queue database at \(path).")
        }
        var report = QueueCheckReport(path: path)
        report.fileBytes = SQLiteStore.fileSize(path)
        report.walBytes = SQLiteStore.fileSize(path + "-wal")
        let restore = "restore the latest backup: prismq restore --from BACKUP (with servers and workers stopped)."
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(5)
        do {
            let connection = try DatabaseQueue(path: path, configuration: readOnly)
            defer { try? connection.close() }
            try connection.read { db in try inspect(db, into: &report, limits: limits, now: now) }
        } catch let error as QueueError {
            throw error
        } catch {
            // A damaged file often fails the queries after the integrity check: that check
            // says more than the error does.
            if report.integrity.isEmpty || report.integrity == ["ok"] {
                let reason = (error as? DatabaseError)?.message ?? "\(error)"
                report.problems.append(.init(problem: "SQLite cannot read \(path) (\(reason)).", advice: restore))
            }
        }
        if !report.integrity.isEmpty, report.integrity != ["ok"] {
            report.problems.insert(
                .init(
                    problem: "The file fails SQLite's integrity check: "
                        + "\(report.integrity.prefix(3).joined(separator: "; ")).",
                    advice: restore), at: 0)
        }
        addQueueFindings(to: &report, limits: limits, now: now)
        return report
    }

    /// Reads the file's figures; stops after the schema when the file is no queue.
    private static func inspect(
        _ db: Database, into report: inout QueueCheckReport, limits: QueueCheckLimits, now: Date
    ) throws {
        report.pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
        report.freeBytes = Int64(try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0) * Int64(report.pageSize)
        report.journalMode = try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? ""
        report.autoVacuum =
            ["none", "full", "incremental"][min(2, max(0, try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? 0))]
        report.integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check(20)")
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        report.schemaVersion = version
        guard version >= 1, try SQLiteSchema.isQueueOrEmpty(db) else {
            report.problems.append(
                .init(
                    problem: "\(report.path) is not a PrismQ queue.",
                    advice: "check --db (or $PRISMQ_QUEUE_DB_PATH): it names another file."))
            return
        }
        guard version <= SQLiteSchema.currentVersion else {
            report.problems.append(
                .init(
                    problem: "Schema version \(version) is newer than this PrismQ's (\(SQLiteSchema.currentVersion)).",
                    advice: "check it with the newer PrismQ that wrote it."))
            return
        }
        let nowMillis = TaskRow.millis(now)
        for row in try Row.fetchAll(db, sql: "SELECT status, count(*) FROM tasks GROUP BY status") {
            report.tasks[TaskStatus(rawValue: row[0])] = row[1]
        }
        if let row = try Row.fetchOne(
            db,
            sql:
                "SELECT type, run_after FROM tasks WHERE status = 'queued' AND run_after <= ? ORDER BY run_after LIMIT 1",
            arguments: [nowMillis])
        {
            report.oldestReady = (row[0], Double(nowMillis - (row[1] as Int64)) / 1000)
        }
        report.expiredLeases =
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM tasks WHERE status = 'running' AND lease_expires_at < ?",
                arguments: [nowMillis - TaskRow.millis(limits.leaseGrace)]) ?? 0
        report.retention = try SettingsSQL.recordedRetention(db)
        report.staleWorkers = try Row.fetchAll(
            db,
            sql: """
                SELECT id, last_heartbeat_at FROM workers WHERE stopped_at IS NULL AND last_heartbeat_at < ?
                ORDER BY last_heartbeat_at
                """,
            arguments: [nowMillis - TaskRow.millis(limits.workerStaleAfter)]
        ).map { row in (row[0], Double(nowMillis - (row[1] as Int64)) / 1000) }
    }

    /// The problems and notes a readable queue's figures call for.
    private static func addQueueFindings(to report: inout QueueCheckReport, limits: QueueCheckLimits, now: Date) {
        if let (type, seconds) = report.oldestReady, seconds > limits.readyAge.inSeconds {
            report.problems.append(
                .init(
                    problem: "A '\(type)' task has been ready for \(duration(seconds)) and nothing has claimed it.",
                    advice: "start a worker that handles '\(type)' (prismq worker --type \(type) …); "
                        + "prismq workers lists those running."))
        }
        if report.expiredLeases > 0 {
            report.problems.append(
                .init(
                    problem: "\(report.expiredLeases) running tasks are past their lease by more than "
                        + "\(duration(limits.leaseGrace.inSeconds)): nothing is sweeping expired leases.",
                    advice: "run a prismq serve or a prismq worker on this queue (both sweep); the tasks go back "
                        + "to the queue (or to dead, out of attempts)."))
        }
        if report.walBytes > max(limits.walBytes, report.fileBytes) {
            report.problems.append(
                .init(
                    problem: "The log (\(report.path)-wal) holds \(report.walBytes >> 20) MiB, more than the database.",
                    advice: "run prismq checkpoint --mode truncate; if it says blocked, a long-running reader "
                        + "(a backup, an export) holds the log: let it finish."))
        }
        for worker in report.staleWorkers {
            report.notes.append(
                .init(
                    problem: "Worker \(worker.id) has been silent for \(duration(worker.seconds)) without stopping.",
                    advice: "it died or hangs; its tasks go back to the queue when their leases expire."))
        }
        // Files older than the `settings` table (schema 5) keep no record: nothing to say.
        if let schemaVersion = report.schemaVersion, schemaVersion >= 5, report.problems.isEmpty {
            addRetentionNote(to: &report, limits: limits, now: now)
        }
        if report.freeBytes > 16 << 20, report.freeBytes * 4 > report.fileBytes {
            report.notes.append(
                .init(
                    problem: "\(report.freeBytes >> 20) MiB of the file are free pages.",
                    advice: "prismq vacuum gives them back to the file system (when the queue is quiet)."))
        }
        if !report.journalMode.isEmpty, report.journalMode != "wal", report.problems.isEmpty {
            report.notes.append(
                .init(
                    problem: "The file is in journal mode \(report.journalMode), not WAL (a backup is).",
                    advice: "nothing: PrismQ switches it to WAL when a server or worker opens it."))
        }
    }

    /// A note when no maintenance round has applied a retention policy, or none lately.
    private static func addRetentionNote(to report: inout QueueCheckReport, limits: QueueCheckLimits, now: Date) {
        let advice =
            "prismq serve applies its --retain policy every few minutes (a Swift MaintenanceScheduler "
            + "does the same); prismq purge deletes finished tasks once."
        guard let retention = report.retention else {
            report.notes.append(
                .init(
                    problem: "No maintenance round has run here: finished tasks are kept until one does.",
                    advice: advice))
            return
        }
        let age = now.timeIntervalSince(retention.recordedAt)
        if age > limits.retentionAge.inSeconds {
            report.notes.append(
                .init(
                    problem: "The last maintenance round ran \(duration(age)) ago: finished tasks pile up meanwhile.",
                    advice: advice))
        }
    }

    /// `seconds` as `45 s`, `12 min` or `3.5 h`.
    package static func duration(_ seconds: Double) -> String {
        seconds < 120
            ? "\(Int(seconds)) s"
            : seconds < 7200 ? "\(Int(seconds / 60)) min" : String(format: "%.1f h", seconds / 3600)
    }
}
