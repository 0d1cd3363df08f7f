import Foundation
import GRDB
import PrismQ

/// What a restore did.
public struct RestoreReport: Sendable, Equatable {
    /// What the restored queue holds.
    public var restored: QueueFileSummary
    /// Where the file it replaced is kept; `nil` when there was none.
    public var replacedKeptAt: String?
    /// The tasks that file held; `nil` when there was none or it could not be read.
    public var replacedTasks: Int?
}

/// Puts a backup in place of a queue's SQLite file.
public enum SQLiteRestore {
    /// Restores the backup at `backup` as the queue file at `path`, which no process may have
    /// open.
    ///
    /// The backup is checked (``QueueFileCopy/check(_:path:)``) and copied under a temporary
    /// name beside `path` first, so nothing changes when it is unusable. Then, holding an
    /// exclusive lock on the file at `path`, that file is renamed to
    /// `<path>.replaced-<UTC time>` (kept, never deleted) and the copy takes its name.
    ///
    /// - Throws: `notFound` when `backup` does not exist; `storage` when the backup fails its
    ///   check or the files cannot be written; `busy` when another process has the queue at
    ///   `path` open (a server or a worker); `invalidArgument` when `path` is another
    ///   application's database or both paths name one file.
    public static func restore(
        from backup: String, to path: String, progress: (CopyProgress) -> Void = { _ in }
    ) throws(QueueError) -> RestoreReport {
        guard FileManager.default.fileExists(atPath: backup) else {
            throw QueueError(.notFound, "There is no backup at \(backup).")
        }
        guard
            URL(fileURLWithPath: backup).resolvingSymlinksInPath().path
                != URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        else {
            throw QueueError(.invalidArgument, "The backup and the queue are the same file, \(path).")
        }
        let hasFile = FileManager.default.fileExists(atPath: path)
        if !hasFile, FileManager.default.fileExists(atPath: path + "-wal") {
            throw QueueError(
                .storage,
                "\(path)-wal exists without its database; move it away first (SQLite would apply it to the "
                    + "restored file).")
        }
        try QueueFileCopy.makeDirectory(of: path)
        let temporary = QueueFileCopy.temporaryName(beside: path)
        let restored = try copy(backup, to: temporary, progress: progress)
        guard hasFile else {
            try QueueFileCopy.publish(temporary, as: path)
            return RestoreReport(restored: restored)
        }
        do {
            let (keptAt, tasks) = try replace(path, with: temporary)
            return RestoreReport(restored: restored, replacedKeptAt: keptAt, replacedTasks: tasks)
        } catch {
            QueueFileCopy.removeWithJournal(temporary)
            throw error
        }
    }

    /// Checks the backup and copies it to `temporary`.
    private static func copy(
        _ backup: String, to temporary: String, progress: (CopyProgress) -> Void
    ) throws(QueueError) -> QueueFileSummary {
        var readOnly = Configuration()
        readOnly.readonly = true
        let source: DatabaseQueue
        do {
            source = try DatabaseQueue(path: backup, configuration: readOnly)
            _ = try source.read { db in try QueueFileCopy.check(db, path: backup) }
        } catch {
            throw QueueError.translating(error, path: backup)
        }
        defer { try? source.close() }
        return try QueueFileCopy.make(of: source, at: temporary, pagesPerStep: 1024) { copied, total in
            progress(CopyProgress(copiedPages: copied, totalPages: total))
        }
    }

    /// Moves the queue file at `path` aside and gives `temporary` its name, holding an
    /// exclusive lock on it meanwhile: the kept file's name and its task count.
    ///
    /// A file SQLite cannot read (corrupted, or not a database: what a restore is for) is
    /// moved aside without that lock, since nothing can be using it as a queue.
    private static func replace(_ path: String, with temporary: String) throws(QueueError) -> (String, Int?) {
        let keptAt = asideName(for: path)
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        do {
            let current = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? current.close() }
            return try current.writeWithoutTransaction { db in
                guard try SQLiteSchema.isQueueOrEmpty(db) else {
                    throw QueueError(
                        .invalidArgument,
                        "The file \(path) is another application's SQLite database, not a PrismQ queue; "
                            + "restore leaves it unchanged.")
                }
                // Leaving WAL mode needs every other connection closed; it also folds the log
                // into the file, so the kept file is one piece.
                guard try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") == "delete" else {
                    throw inUse(path)
                }
                var tasks = 0
                try db.inTransaction(.exclusive) {
                    if try Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'tasks'") == true
                    {
                        tasks = try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks") ?? 0
                    }
                    try swap(path, keptAt: keptAt, temporary: temporary)
                    return .commit
                }
                return (keptAt, tasks)
            }
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            try swap(path, keptAt: keptAt, temporary: temporary)
            return (keptAt, nil)
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
            throw inUse(path)
        } catch {
            throw QueueError.translating(error, path: path)
        }
    }

    /// Renames `path` (with any log beside it) to `keptAt` and `temporary` to `path`; puts
    /// `path` back when the second rename fails.
    private static func swap(_ path: String, keptAt: String, temporary: String) throws(QueueError) {
        guard rename(path, keptAt) == 0 else {
            throw QueueError(.storage, "Cannot rename \(path) to \(keptAt): \(String(cString: strerror(errno))).")
        }
        if FileManager.default.fileExists(atPath: path + "-wal") {
            _ = rename(path + "-wal", keptAt + "-wal")
        }
        unlink(path + "-shm")
        do {
            try QueueFileCopy.publish(temporary, as: path)
        } catch {
            _ = rename(keptAt, path)
            throw error
        }
    }

    private static func inUse(_ path: String) -> QueueError {
        QueueError(
            .busy,
            "Another process has the queue \(path) open (a 'prismq serve' or 'prismq worker'?); stop it and "
                + "restore again.")
    }

    /// `<path>.replaced-<UTC time>`, with a counter when that exists already.
    private static func asideName(for path: String) -> String {
        let base = "\(path).replaced-\(QueueFileCopy.timestamp(Date()))"
        var name = base
        var counter = 1
        while FileManager.default.fileExists(atPath: name) {
            counter += 1
            name = "\(base)-\(counter)"
        }
        return name
    }
}
