import Foundation
import GRDB
import PrismQ

/// How far a backup or a restore has copied.
public struct CopyProgress: Sendable, Equatable {
    /// The pages copied so far, and the pages to copy.
    public var copiedPages: Int
    public var totalPages: Int
}

extension SQLiteStore {
    /// Writes an online backup of the queue to `destination` while producers and workers go on
    /// (see ``SQLiteBackup/write(from:source:to:replacing:pagesPerStep:progress:)``).
    public func backup(
        to destination: String, replacing: Bool = false, pagesPerStep: Int = 1024,
        progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }
    ) async throws(QueueError) -> QueueFileSummary {
        // The copy holds a reader of the pool for as long as it takes.
        recorder.beginRead()
        defer { recorder.endRead() }
        return try await SQLiteBackup.write(
            from: pool, source: path, to: destination, replacing: replacing, pagesPerStep: pagesPerStep,
            progress: progress)
    }
}

/// Online backups of a SQLite queue's file.
public enum SQLiteBackup {
    /// Backs up the queue file at `path` from a read-only connection of its own: no schema
    /// migration and no change to the file, so an older server can go on using it.
    ///
    /// - Throws: `storage` when there is no file; as
    ///   ``write(from:source:to:replacing:pagesPerStep:progress:)`` otherwise.
    public static func backup(
        path: String, to destination: String, replacing: Bool = false,
        progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }
    ) async throws(QueueError) -> QueueFileSummary {
        guard FileManager.default.fileExists(atPath: path) else {
            throw QueueError(.storage, "There is no queue database at \(path).")
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(5)
        let source: DatabaseQueue
        do {
            source = try DatabaseQueue(path: path, configuration: readOnly)
        } catch {
            throw QueueError.translating(error, path: path)
        }
        defer { try? source.close() }
        return try await write(from: source, source: path, to: destination, replacing: replacing, progress: progress)
    }

    /// Writes a backup of `reader` (the queue file at `source`) to `destination`.
    ///
    /// The copy is the queue as it was when the backup began: it is read in one read
    /// transaction, which never blocks writers (the log grows meanwhile, since a checkpoint
    /// cannot pass a reader). It is written under a temporary name beside `destination`
    /// (mode 0600), switched to a rollback journal so that it is one self-contained file,
    /// checked (`PRAGMA integrity_check`, a PrismQ schema), synced, and only then given the
    /// name `destination`: a crash never leaves a partial backup under that name.
    ///
    /// - Parameters:
    ///   - replacing: Whether an existing file at `destination` may be replaced.
    ///   - pagesPerStep: The pages copied between two calls of `progress`.
    /// - Throws: `invalidArgument` when `destination` is the queue's own file (or its log) or
    ///   exists and `replacing` is false; `storage` when the copy cannot be written or fails
    ///   its check.
    static func write(
        from reader: any DatabaseReader, source: String, to destination: String, replacing: Bool,
        pagesPerStep: Int = 1024, progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws(QueueError) -> QueueFileSummary {
        let destination = URL(fileURLWithPath: destination).standardizedFileURL.path
        try refuseOverwritingQueue(source, with: destination)
        if !replacing, FileManager.default.fileExists(atPath: destination) {
            throw QueueError(
                .invalidArgument,
                "\(destination) already exists; choose another name or replace it (prismq backup --replace).")
        }
        try QueueFileCopy.makeDirectory(of: destination)
        let temporary = QueueFileCopy.temporaryName(beside: destination)
        let steps = Int32(clamping: max(1, pagesPerStep))
        // The copy blocks its thread for as long as it takes: a Dispatch thread, never one of
        // the cooperative pool's.
        let summary = try await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result { () throws(QueueError) in
                        try QueueFileCopy.make(of: reader, at: temporary, pagesPerStep: steps) { copied, total in
                            progress(CopyProgress(copiedPages: copied, totalPages: total))
                        }
                    })
            }
        }.get()
        do {
            try QueueFileCopy.publish(temporary, as: destination, replacing: replacing)
        } catch {
            QueueFileCopy.removeWithSidecars(temporary)
            throw error
        }
        return summary
    }

    /// Refuses a destination that is the queue's file (by name, through a link, or as the same
    /// file under another name) or one of SQLite's files beside it.
    private static func refuseOverwritingQueue(_ source: String, with destination: String) throws(QueueError) {
        let queue = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
        let target = URL(fileURLWithPath: destination).resolvingSymlinksInPath().path
        var (queueStatus, targetStatus) = (stat(), stat())
        let sameFile =
            stat(queue, &queueStatus) == 0 && stat(target, &targetStatus) == 0
            && queueStatus.st_dev == targetStatus.st_dev && queueStatus.st_ino == targetStatus.st_ino
        guard !sameFile, ![queue, queue + "-wal", queue + "-shm", queue + "-journal"].contains(target) else {
            throw QueueError(.invalidArgument, "The backup \(destination) would overwrite the queue itself.")
        }
    }
}
