import Foundation
import Logging
import PrismQ
import ServiceLifecycle

/// Takes an online backup of a SQLite queue every `interval` into `directory`, as
/// `<queue file's name>-<UTC time>.db`, and deletes the oldest of those beyond `keep`.
public struct BackupScheduler: Service {
    /// The queue to back up.
    public let store: SQLiteStore
    /// Where the backups go (made 0700 when missing).
    public var directory: String
    /// How often. The first backup is one interval after start.
    public var interval: Duration
    /// How many backups to keep (at least 1).
    public var keep: Int
    let logger: Logger

    /// A scheduler of `store`'s backups.
    public init(
        store: SQLiteStore, directory: String, interval: Duration, keep: Int,
        logger: Logger = Logger(label: "prismq.backup")
    ) {
        self.store = store
        self.directory = directory
        self.interval = interval
        self.keep = max(1, keep)
        self.logger = logger
    }

    /// The backups of this queue in `directory`, oldest first.
    public var backups: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter(isBackupName).sorted().map { directory + "/" + $0 }
    }

    /// Takes one backup, then deletes the oldest beyond `keep`: the new backup's path and what
    /// it holds.
    @discardableResult
    public func runOnce() async throws(QueueError) -> (path: String, summary: QueueFileSummary) {
        let start = ContinuousClock.now
        let path = "\(directory)/\(stem)-\(QueueFileCopy.timestamp(Date())).db"
        let summary = try await store.backup(to: path)
        logger.notice(
            "Backup written",
            metadata: [
                "prismq.backup.path": "\(path)", "prismq.backup.tasks": "\(summary.tasks)",
                "prismq.backup.bytes": "\(summary.bytes)",
                "prismq.backup.seconds": "\((ContinuousClock.now - start).inSeconds)",
            ])
        for old in backups.dropLast(keep) {
            unlink(old)
        }
        return (path, summary)
    }

    /// Removes what a backup stopped mid-way (a process killed while it copied) left in
    /// `directory`: its temporary copies of this queue.
    public func removeUnfinished() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(stem + "-") && name.contains(".db.tmp-") {
            unlink(directory + "/" + name)
        }
    }

    /// Removes unfinished backups, then takes a backup every `interval` until graceful shutdown
    /// or cancellation.
    public func run() async throws {
        removeUnfinished()
        await repeatUntilShutdown(every: interval, waitingFirst: true, logger: logger, failure: "Backup failed") {
            try await runOnce()
        }
    }

    /// The queue file's name without its extension.
    private var stem: String {
        URL(fileURLWithPath: store.path).deletingPathExtension().lastPathComponent
    }

    /// Whether `name` is `<stem>-<timestamp>.db`, a name this scheduler gives.
    private func isBackupName(_ name: String) -> Bool {
        let prefix = stem + "-"
        guard name.hasPrefix(prefix), name.hasSuffix(".db") else { return false }
        let time = name.dropFirst(prefix.count).dropLast(3)
        return time.count == 19 && time.last == "Z" && time.dropLast().allSatisfy { $0.isNumber || $0 == "T" }
    }
}
