import Foundation
import GRDB
import PrismQ
import Synchronization

@testable import PrismQSQLite

/// A fresh directory for one test, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "prismq-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the directory.
    func file(_ name: String) -> String { path + "/" + name }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A store on a new file in `directory`, optionally on a manual clock.
func makeStore(
    in directory: TemporaryDirectory, clock: ManualClock? = nil, profile: SQLitePragmaProfile = .balanced,
    name: String = "queue.db"
) throws -> SQLiteStore {
    var configuration = SQLiteConfiguration()
    configuration.profile = profile
    if let clock {
        configuration.clock = clock
    }
    return try SQLiteStore(path: directory.file(name), configuration: configuration)
}

extension SQLiteStore {
    /// Puts a task straight into a state, as a worker would (the worker API is not under test here).
    func force(_ id: Int64, to status: TaskStatus, claimedBy worker: String? = nil) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE tasks SET status = ?, claimed_by = ?, attempts = attempts + 1 WHERE id = ?",
                arguments: [status.rawValue, worker, id]
            )
        }
    }
}

extension SQLiteStore {
    /// Makes a delayed task ready now.
    func makeReady(_ id: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE tasks SET run_after = 0 WHERE id = ?", arguments: [id])
        }
    }
}

/// Fills `store` with 200 tasks of 500-byte payloads (enough pages that the middle one holds
/// tasks) and writes a backup of it to `backup`.
func fillAndBackUp(_ store: SQLiteStore, to backup: String) async throws {
    let payload = try RawJSON(validating: "\"" + String(repeating: "p", count: 500) + "\"")
    _ = try await TaskQueue(store: store).enqueue(batch: (0..<200).map { _ in NewTask(type: "t", payload: payload) })
    _ = try await store.backup(to: backup)
}

/// Overwrites the page in the middle of the file at `path`, in place, with 0xA5 bytes, which
/// SQLite reads as damage: the file's new bytes.
@discardableResult
func damageMiddlePage(of path: String) throws -> Data {
    let size = Int(SQLiteStore.fileSize(path))
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: UInt64(4096 * (size / 4096 / 2)))
    try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
    try handle.close()
    return FileManager.default.contents(atPath: path) ?? Data()
}

/// Waits until no connection of this process is left on the queue at `path` (a store let go
/// closes its connections on its own threads shortly after), and leaves the file out of WAL
/// mode, its log folded in: for tests that then change the file's bytes.
func waitUntilClosed(_ path: String) async throws {
    var configuration = Configuration()
    configuration.busyMode = .immediateError
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        // Opening reads the schema, which a closing connection may still lock: that too is
        // "not yet".
        if let queue = try? DatabaseQueue(path: path, configuration: configuration) {
            let mode = try? await queue.writeWithoutTransaction { db in
                try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
            }
            try queue.close()
            if mode == "delete" { return }
        }
        guard ContinuousClock.now < deadline else { throw QueueError(.busy, "\(path) stayed open.") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Restores `backup` to `path` once the stores this process let go of have closed their
/// connections, which they do on their own threads shortly after: a restore that finds the
/// queue open changes nothing, so it is tried again, for at most 30 s.
func restoreOnceClosed(from backup: String, to path: String) async throws -> RestoreReport {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let result = Result { () throws(QueueError) in try SQLiteRestore.restore(from: backup, to: path) }
        if case .failure(let error) = result, error.code == .busy, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            continue
        }
        return try result.get()
    }
}
