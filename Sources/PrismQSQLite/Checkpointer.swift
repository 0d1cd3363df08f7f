import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import PrismQ
import Synchronization

/// Keeps WAL checkpoints off the writer's path.
///
/// SQLite's automatic checkpoint runs inside the commit that brings the WAL to
/// `wal_autocheckpoint` pages: that commit's callers wait for it, and so does every write
/// queued behind it. Instead, a WAL hook on the writer connection wakes a thread of the
/// store's own, which runs a PASSIVE checkpoint on a connection of its own while the writes
/// go on. Should the WAL still reach ``backstopFactor`` times the threshold (the thread cannot
/// keep up), the committing writer checkpoints itself, as SQLite would.
///
/// A passive checkpoint copies the log into the database but never makes the log start over
/// while some reader still uses it, and under sustained load some reader always does: the log
/// file then grows without end (to about 1 GB in 60,000 tasks of `WALBoundTests`). So when a
/// passive checkpoint leaves ``truncateFactor`` thresholds of log behind, the thread runs a truncating one, which waits up to ``truncateWait`` for the
/// readers of the log to finish (new writers wait meanwhile; new readers read the database
/// file) and empties the log. After one that found readers still busy (a long read: a backup,
/// an export, an integrity check, or reads slowed by a starved machine), the next waits for
/// another threshold of log and waits twice as long for the readers, up to
/// ``longestTruncateWait``: writers are held up at most that per threshold written while
/// readers stay slow.
final class Checkpointer: Sendable {
    private struct State {
        var requested = false
        var closed = false
        var running = true
        var checkpoints = 0
        /// The log's frames when a truncating checkpoint last found its readers busy.
        var truncateRefusedAt: Int?
        /// How long the next truncating checkpoint waits for the log's readers, in milliseconds.
        var truncateWait = Checkpointer.truncateWait
    }

    /// How many thresholds the WAL may reach before the writer checkpoints itself.
    static let backstopFactor: Int32 = 8

    /// How many thresholds of log a passive checkpoint may leave before a truncating one runs.
    static let truncateFactor: Int32 = 4

    /// How long a truncating checkpoint waits for the log's readers, in milliseconds; doubled
    /// after each refusal up to ``longestTruncateWait``, back to this after a success.
    static let truncateWait = 100

    /// The longest a truncating checkpoint waits, in milliseconds.
    static let longestTruncateWait = 1000

    /// The WAL size, in pages, that starts a checkpoint.
    let threshold: Int32
    private let path: String
    private let state = Locked(State())
    private let wake = DispatchSemaphore(value: 0)

    init(path: String, threshold: Int) {
        self.path = path
        self.threshold = Int32(clamping: max(1, threshold))
        let thread = Thread { [self] in run() }
        thread.name = "prismq.checkpointer"
        thread.start()
    }

    /// Whether the thread still runs.
    var running: Bool { state.withLock { $0.running } }

    /// How many checkpoints the thread ran.
    var checkpoints: Int { state.withLock { $0.checkpoints } }

    /// Takes the writer connection's checkpoints over (replacing SQLite's automatic ones).
    /// The checkpointer must stay alive until ``uninstall(from:)``.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, walHook, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Gives the writer connection back its own automatic checkpoints, and stops the thread.
    func uninstall(from db: Database) {
        sqlite3_wal_autocheckpoint(db.sqliteConnection, threshold)
        let wakeThread = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        if wakeThread { wake.signal() }
    }

    /// Called after a commit left `pages` pages in the WAL.
    fileprivate func committed(pages: Int32, connection: OpaquePointer?, schema: UnsafePointer<CChar>?) {
        if pages >= threshold * Self.backstopFactor {
            sqlite3_wal_checkpoint_v2(connection, schema, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        } else if pages >= threshold {
            let wakeThread = state.withLock { state in
                defer { state.requested = true }
                return !state.requested
            }
            if wakeThread { wake.signal() }
        }
    }

    private func run() {
        var configuration = Configuration()
        configuration.label = "prismq.checkpointer"
        let connection = try? DatabaseQueue(path: path, configuration: configuration)
        while true {
            wake.wait()
            let closed = state.withLock { state in
                state.requested = false
                if state.closed { state.running = false }
                return state.closed
            }
            if closed { return }
            // Busy (another checkpoint runs, in this process or another): the next one will do.
            _ = try? connection?.inDatabase { db in
                let passive = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
                let frames = passive?[1] as Int? ?? 0
                guard frames >= Int(threshold * Self.truncateFactor), truncateAllowed(frames: frames) else {
                    return
                }
                let wait = state.withLock { $0.truncateWait }
                try db.execute(sql: "PRAGMA busy_timeout = \(wait)")
                defer { try? db.execute(sql: "PRAGMA busy_timeout = 0") }
                let busy = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")?[0] as Int? ?? 1
                state.withLock { state in
                    state.truncateRefusedAt = busy != 0 ? frames : nil
                    state.truncateWait = busy != 0 ? min(wait * 2, Self.longestTruncateWait) : Self.truncateWait
                }
            }
            state.withLock { $0.checkpoints += 1 }
        }
    }
}

extension Checkpointer {
    /// Whether a truncating checkpoint may run with `frames` in the log: the last one did not
    /// find readers busy, or the log has grown a threshold since.
    fileprivate func truncateAllowed(frames: Int) -> Bool {
        state.withLock { state in
            state.truncateRefusedAt.map { frames >= $0 + Int(threshold) } ?? true
        }
    }
}

/// The writer connection's WAL hook: hands the checkpoint to the ``Checkpointer``.
private func walHook(
    _ context: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ schema: UnsafePointer<CChar>?,
    _ pages: Int32
) -> Int32 {
    guard let context else { return SQLITE_OK }
    Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
        .committed(pages: pages, connection: connection, schema: schema)
    return SQLITE_OK
}
