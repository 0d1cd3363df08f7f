import Foundation
import PrismQ

/// The database file as this process opened it. A file deleted or replaced under a running
/// process would take its writes with it: they would go on into the open file, which nobody
/// else sees and which is gone when the process ends. So each commit, and each readiness check
/// (what `/health` asks), checks first that the path still names the file it opened (one `stat`).
struct FileIdentity: Sendable {
    let path: String
    private let device: UInt64
    private let inode: UInt64

    /// The file at `path` now; `nil` when it cannot be read.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// - Throws: `storage` when `path` no longer names the file opened.
    func verify() throws(QueueError) {
        var info = stat()
        guard stat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            throw QueueError(
                .storage,
                "The database file \(path) was deleted or replaced while this process had it open, so nothing more "
                    + "is written to it; see 'deleted or replaced' in docs/failure-modes.md before stopping this process."
            )
        }
    }
}
