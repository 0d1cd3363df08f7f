import Foundation
import GRDB
import PrismQ

/// What a checked copy of a queue holds.
public struct QueueFileSummary: Sendable, Equatable {
    /// The schema version (`PRAGMA user_version`).
    public var schemaVersion: Int
    /// The tasks in it.
    public var tasks: Int
    /// Its pages, and its size in bytes.
    public var pages: Int
    public var bytes: Int64
}

/// Copies of a queue made page by page with SQLite's online backup, and checked, before they
/// take their final name: the home of backup and restore's file handling.
enum QueueFileCopy {
    /// Copies `source` into a new file at `temporary` (created here with mode 0600) in steps
    /// of `pagesPerStep` pages, calling `progress(copied, total)` after each; switches the copy
    /// to a rollback journal (one self-contained file) and checks it (``check(_:path:)``).
    /// The copy is synced to disk on return; on any error it is removed.
    ///
    /// `source` is read in one read transaction: the copy is that snapshot, and writers to
    /// a WAL source go on meanwhile.
    static func make(
        of source: any DatabaseReader, at temporary: String, pagesPerStep: Int32,
        progress: (_ copied: Int, _ total: Int) -> Void
    ) throws(QueueError) -> QueueFileSummary {
        try createOwnerOnly(temporary)
        var copy: DatabaseQueue?
        do {
            var configuration = Configuration()
            // Every commit of the copy reaches the disk before it is given its name.
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            let queue = try DatabaseQueue(path: temporary, configuration: configuration)
            copy = queue
            try withoutActuallyEscaping(progress) { progress in
                try source.backup(to: queue, pagesPerStep: pagesPerStep) { step in
                    progress(step.completedPageCount, step.totalPageCount)
                }
            }
            var summary = try queue.writeWithoutTransaction { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
                guard mode == "delete" else {
                    throw QueueError(.storage, "The copy \(temporary) kept journal mode \(mode ?? "?").")
                }
                return try check(db, path: temporary)
            }
            try queue.close()
            summary.bytes = SQLiteStore.fileSize(temporary)
            return summary
        } catch {
            try? copy?.close()
            removeWithSidecars(temporary)
            throw QueueError.translating(error, path: temporary)
        }
    }

    /// Checks an open queue file: `PRAGMA integrity_check` finds nothing, it holds a PrismQ
    /// schema, and no newer one than this code's.
    ///
    /// - Throws: `storage` with a sentence naming the file and the first problems found.
    static func check(_ db: Database, path: String) throws -> QueueFileSummary {
        let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check(20)")
        guard problems == ["ok"] else {
            throw QueueError(
                .storage,
                "The file \(path) fails SQLite's integrity check: \(problems.prefix(3).joined(separator: "; ")).")
        }
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard version >= 1, try SQLiteSchema.isQueueOrEmpty(db) else {
            throw QueueError(.storage, "The file \(path) is not a PrismQ queue.")
        }
        guard version <= SQLiteSchema.currentVersion else {
            throw QueueError(
                .storage,
                "The file \(path) has schema version \(version), newer than this PrismQ understands "
                    + "(\(SQLiteSchema.currentVersion)); use a newer PrismQ.")
        }
        return QueueFileSummary(
            schemaVersion: version, tasks: try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks") ?? 0,
            pages: try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0, bytes: 0)
    }

    /// Gives `temporary` the name `final` and syncs the directory, so the new name survives a
    /// crash; before that moment `final` is untouched. Without `replacing`, a file that
    /// appeared at `final` meanwhile is an error, not replaced.
    static func publish(_ temporary: String, as final: String, replacing: Bool) throws(QueueError) {
        if replacing {
            guard rename(temporary, final) == 0 else {
                throw QueueError(
                    .storage, "Cannot rename \(temporary) to \(final): \(String(cString: strerror(errno))).")
            }
        } else {
            // A hard link fails when the name is taken, where a rename would replace it.
            guard link(temporary, final) == 0 else {
                let code = errno
                throw QueueError(
                    .storage,
                    code == EEXIST
                        ? "\(final) appeared while it was being written; nothing was replaced. Try again."
                        : "Cannot create \(final): \(String(cString: strerror(code))).")
            }
            unlink(temporary)
        }
        syncDirectory(of: final)
    }

    /// Whether another process has the WAL-mode database at `path` open: every SQLite
    /// connection to it holds a shared lock on byte 128 of its `-shm` file (the "DMS" lock)
    /// while it is open. POSIX locks only: a guarded spot where Windows would need its own.
    static func isOpenInAnotherProcess(_ path: String) -> Bool {
        let descriptor = open(path + "-shm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 128
        lock.l_len = 1
        guard fcntl(descriptor, F_GETLK, &lock) == 0 else { return false }
        return lock.l_type != Int16(F_UNLCK)
    }

    /// A name for a temporary file beside `path`, unique to this process and moment.
    static func temporaryName(beside path: String) -> String {
        "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// `date` in UTC as `20261203T131500123Z` (milliseconds before the `Z`): file names that
    /// sort by time.
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmssSSS'Z'"
        return formatter.string(from: date)
    }

    /// Makes `path`'s directory (0700) when it is missing.
    static func makeDirectory(of path: String) throws(QueueError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw QueueError(.storage, "Cannot create the directory \(directory).")
        }
    }

    /// Removes a file and the journal, log and shared-memory files SQLite may have left
    /// beside it.
    static func removeWithSidecars(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }

    /// Creates an empty file readable and writable by its owner only; an existing one is an
    /// error.
    static func createOwnerOnly(_ path: String) throws(QueueError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw QueueError(.storage, "Cannot create \(path): \(String(cString: strerror(errno))).")
        }
        _ = fchmod(descriptor, 0o600)
        close(descriptor)
    }

    /// Syncs the directory holding `path`, so that a rename into it is durable.
    private static func syncDirectory(of path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
