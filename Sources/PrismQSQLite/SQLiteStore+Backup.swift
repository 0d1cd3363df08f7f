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
    /// Writes an online backup of the queue to `destination` while producers and workers go on.
    ///
    /// The copy is the queue as it was when the backup began: it is read in one read
    /// transaction, which never blocks writers (the log grows meanwhile, since a checkpoint
    /// cannot pass a reader). It is written under a temporary name beside `destination`
    /// (mode 0600), switched to a rollback journal so that it is one self-contained file,
    /// checked (`PRAGMA integrity_check`, a PrismQ schema), synced, and only then renamed to
    /// `destination`: a crash never leaves a partial backup under that name.
    ///
    /// - Parameters:
    ///   - replacing: Whether an existing file at `destination` may be replaced.
    ///   - pagesPerStep: The pages copied between two calls of `progress`.
    /// - Throws: `invalidArgument` when `destination` is the queue's own file or exists and
    ///   `replacing` is false; `storage` when the copy cannot be written or fails its check.
    public func backup(
        to destination: String, replacing: Bool = false, pagesPerStep: Int = 1024,
        progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }
    ) async throws(QueueError) -> QueueFileSummary {
        let destination = URL(fileURLWithPath: destination).standardizedFileURL.path
        let own = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard URL(fileURLWithPath: destination).resolvingSymlinksInPath().path != own else {
            throw QueueError(.invalidArgument, "The backup \(destination) would overwrite the queue itself.")
        }
        if !replacing, FileManager.default.fileExists(atPath: destination) {
            throw QueueError(
                .invalidArgument,
                "\(destination) already exists; choose another name or replace it (prismq backup --replace).")
        }
        try QueueFileCopy.makeDirectory(of: destination)
        let temporary = QueueFileCopy.temporaryName(beside: destination)
        let pool = self.pool
        let steps = Int32(clamping: max(1, pagesPerStep))
        recorder.beginRead()
        defer { recorder.endRead() }
        // The copy blocks its thread for as long as it takes: a Dispatch thread, never one of
        // the cooperative pool's.
        let summary = try await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result { () throws(QueueError) in
                        try QueueFileCopy.make(of: pool, at: temporary, pagesPerStep: steps) { copied, total in
                            progress(CopyProgress(copiedPages: copied, totalPages: total))
                        }
                    })
            }
        }.get()
        try QueueFileCopy.publish(temporary, as: destination)
        return summary
    }
}
