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
    /// name beside `path` first, so nothing changes when it is unusable. When `path` exists,
    /// its content is then replaced in place, under an exclusive lock held from the moment no
    /// other connection is found until the end: its old content is first copied to
    /// `<path>.replaced-<UTC time>` (kept, never deleted), then the backup's is copied in. The
    /// file keeps its owner and mode, and a process that opens it meanwhile waits for the lock
    /// and then reads the restored content. A file SQLite cannot read at all is moved aside
    /// instead, unless another process has it open.
    ///
    /// - Throws: `notFound` when `backup` does not exist; `storage` when the backup fails its
    ///   check, the files cannot be written, or logs without their database lie at `path`;
    ///   `busy` when another process has the queue at `path` open (a server or a worker);
    ///   `invalidArgument` when `path` is another application's database or both paths name
    ///   one file.
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
        if !hasFile, let log = ["-wal", "-journal"].first(where: { FileManager.default.fileExists(atPath: path + $0) })
        {
            throw QueueError(
                .storage,
                "\(path)\(log) exists without its database; move it away first (SQLite would apply it to the "
                    + "restored file).")
        }
        try QueueFileCopy.makeDirectory(of: path)
        let temporary = QueueFileCopy.temporaryName(beside: path)
        let restored = try copy(backup, to: temporary, progress: progress)
        defer { QueueFileCopy.removeWithSidecars(temporary) }
        guard hasFile else {
            try QueueFileCopy.publish(temporary, as: path, replacing: false)
            return RestoreReport(restored: restored)
        }
        let (keptAt, tasks) = try replace(path, with: temporary)
        return RestoreReport(restored: restored, replacedKeptAt: keptAt, replacedTasks: tasks)
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

    /// Replaces the content of the queue file at `path` with `temporary`'s, keeping the old
    /// content in a new file: that file's name and its task count (`nil` when unreadable).
    private static func replace(_ path: String, with temporary: String) throws(QueueError) -> (String, Int?) {
        let keptAt = asideName(for: path)
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        do {
            let current = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? current.close() }
            let tasks = try lockForRestore(current, path: path)
            try QueueFileCopy.createOwnerOnly(keptAt)
            do {
                let kept = try DatabaseQueue(path: keptAt)
                try current.backup(to: kept)
                try kept.close()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
                // Too damaged to copy page by page: moved aside whole, under the lock still held.
                QueueFileCopy.removeWithSidecars(keptAt)
                try moveAside(path, keptAt: keptAt, temporary: temporary)
                return (keptAt, nil)
            } catch {
                QueueFileCopy.removeWithSidecars(keptAt)
                throw error
            }
            do {
                var readOnly = Configuration()
                readOnly.readonly = true
                let restored = try DatabaseQueue(path: temporary, configuration: readOnly)
                defer { try? restored.close() }
                try restored.backup(to: current)
            } catch {
                // A failed copy rolls back: the queue is as it was, and needs no kept copy.
                QueueFileCopy.removeWithSidecars(keptAt)
                throw error
            }
            return (keptAt, tasks)
        } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            // SQLite could not open the file or leave WAL mode, so no lock was taken; a process
            // may still hold it (damaged under a running server), which only the
            // shared-memory file's lock tells.
            guard !QueueFileCopy.isOpenInAnotherProcess(path) else { throw inUse(path) }
            try moveAside(path, keptAt: keptAt, temporary: temporary)
            return (keptAt, nil)
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
            throw inUse(path)
        } catch {
            throw QueueError.translating(error, path: path)
        }
    }

    /// Makes sure no other connection has the queue open and keeps it so: leaves WAL mode
    /// (which needs every other connection closed) and takes an exclusive lock this connection
    /// keeps until it closes. Returns the tasks the file holds (`nil` when its schema cannot
    /// be read: a damaged file, which is what a restore is for).
    private static func lockForRestore(_ current: DatabaseQueue, path: String) throws -> Int? {
        try current.writeWithoutTransaction { db in
            let isQueue = try? SQLiteSchema.isQueueOrEmpty(db)
            if isQueue == false {
                throw QueueError(
                    .invalidArgument,
                    "The file \(path) is another application's SQLite database, not a PrismQ queue; restore "
                        + "leaves it unchanged.")
            }
            guard try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") == "delete" else {
                throw inUse(path)
            }
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT")
            guard isQueue == true, (try? db.tableExists("tasks")) == true else { return isQueue == true ? 0 : nil }
            return try? Int.fetchOne(db, sql: "SELECT count(*) FROM tasks")
        }
    }

    /// Renames a file SQLite cannot read (with any log beside it) to `keptAt`, and `temporary`
    /// to `path`; puts it back when the second rename fails.
    private static func moveAside(_ path: String, keptAt: String, temporary: String) throws(QueueError) {
        guard rename(path, keptAt) == 0 else {
            throw QueueError(.storage, "Cannot rename \(path) to \(keptAt): \(String(cString: strerror(errno))).")
        }
        for suffix in ["-wal", "-journal"] where FileManager.default.fileExists(atPath: path + suffix) {
            _ = rename(path + suffix, keptAt + suffix)
        }
        unlink(path + "-shm")
        do {
            try QueueFileCopy.publish(temporary, as: path, replacing: false)
        } catch {
            _ = rename(keptAt, path)
            for suffix in ["-wal", "-journal"] { _ = rename(keptAt + suffix, path + suffix) }
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
