import Foundation
import GRDB
import PrismQ

/// How a WAL checkpoint treats the write-ahead log: SQLite's modes.
public enum CheckpointMode: String, Sendable, CaseIterable {
    /// Copies what it can without waiting for readers or writers.
    case passive
    /// Waits for writers, then copies the whole log.
    case full
    /// As `full`, then waits for readers so the next writer starts the log from its beginning.
    case restart
    /// As `restart`, then truncates the log file to zero bytes.
    case truncate
}

/// What a checkpoint did.
public struct CheckpointReport: Sendable, Equatable {
    /// The mode it ran in.
    public var mode: CheckpointMode
    /// Whether another connection kept it from finishing (SQLite's `busy`).
    public var blocked: Bool
    /// The frames in the log, and how many of them are now in the database file.
    public var walFrames: Int
    public var checkpointedFrames: Int
    /// The log file's size before and after, in bytes.
    public var walBytesBefore: Int64
    public var walBytesAfter: Int64
}

/// What a vacuum did.
public struct VacuumReport: Sendable, Equatable {
    /// Whether it was `PRAGMA incremental_vacuum` (the file has `auto_vacuum=incremental`)
    /// rather than a full `VACUUM`.
    public var incremental: Bool
    /// The database's pages, and the free ones among them, before and after.
    public var pagesBefore: Int
    public var pagesAfter: Int
    public var freePagesBefore: Int
    public var freePagesAfter: Int
    /// The database file's size before and after, in bytes.
    public var bytesBefore: Int64
    public var bytesAfter: Int64
    /// Whether another connection kept the truncating checkpoint after it from finishing: the
    /// file has not shrunk yet, and the log still holds the rewritten pages.
    public var blocked: Bool
    /// The log file's size afterwards, in bytes.
    public var walBytesAfter: Int64
}

extension SQLiteStore {
    /// Runs a WAL checkpoint in `mode` (modes other than `passive` wait up to the profile's
    /// `busy_timeout` for other connections).
    public func checkpoint(_ mode: CheckpointMode) async throws(QueueError) -> CheckpointReport {
        let before = Self.fileSize(path + "-wal")
        // The mode is one of four fixed words: a PRAGMA takes no bound parameter.
        let sql = "PRAGMA wal_checkpoint(\(mode.rawValue.uppercased()))"
        let (busy, frames, copied) = try await writeWithoutTransaction { db in try Self.walCheckpoint(sql, db) }
        return CheckpointReport(
            mode: mode, blocked: busy != 0, walFrames: max(0, frames), checkpointedFrames: max(0, copied),
            walBytesBefore: before, walBytesAfter: Self.fileSize(path + "-wal"))
    }

    /// Gives free pages back to the file system: `PRAGMA incremental_vacuum` when the file has
    /// `auto_vacuum=incremental`, else a full `VACUUM`, which rewrites the file and holds the
    /// write lock while it does (writers wait, up to their `busy_timeout`); then a truncating
    /// checkpoint, so that the file shrinks and the log does not keep a copy. The copy `VACUUM`
    /// builds goes to a temporary file, not to memory, whatever the profile's `temp_store`.
    public func vacuum() async throws(QueueError) -> VacuumReport {
        try await writeWithoutTransaction { [path] db in
            func pages() throws -> (Int, Int) {
                (
                    try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0,
                    try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                )
            }
            let incremental = try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") == 2
            let before = try pages()
            let bytesBefore = Self.fileSize(path)
            if incremental {
                try db.execute(sql: "PRAGMA incremental_vacuum")
            } else {
                let tempStore = try Int.fetchOne(db, sql: "PRAGMA temp_store") ?? 0
                try db.execute(sql: "PRAGMA temp_store = FILE")
                defer { try? db.execute(sql: "PRAGMA temp_store = \(tempStore)") }
                try db.execute(sql: "VACUUM")
            }
            let busy = try Self.walCheckpoint("PRAGMA wal_checkpoint(TRUNCATE)", db).busy
            let after = try pages()
            return VacuumReport(
                incremental: incremental, pagesBefore: before.0, pagesAfter: after.0, freePagesBefore: before.1,
                freePagesAfter: after.1, bytesBefore: bytesBefore, bytesAfter: Self.fileSize(path),
                blocked: busy != 0, walBytesAfter: Self.fileSize(path + "-wal"))
        }
    }

    /// Runs a `PRAGMA wal_checkpoint` statement: whether it was kept from finishing, the frames
    /// in the log, and how many of them are in the database.
    private static func walCheckpoint(_ sql: String, _ db: Database) throws -> (busy: Int, log: Int, copied: Int) {
        let row = try Row.fetchOne(db, sql: sql)
        return (busy: row?[0] as Int? ?? 1, log: row?[1] as Int? ?? 0, copied: row?[2] as Int? ?? 0)
    }

    /// Runs `body` on the writer outside any transaction (what checkpoints and `VACUUM` need).
    func writeWithoutTransaction<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(QueueError) -> T {
        do {
            return try await pool.writeWithoutTransaction(body)
        } catch {
            throw QueueError.translating(error, path: path)
        }
    }

    /// A file's size in bytes; 0 when it does not exist.
    static func fileSize(_ path: String) -> Int64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
    }
}
