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

/// Waits until `condition` holds, checking every 10 ms, for at most `timeout` (long by default:
/// the whole suite runs in parallel on two cores, and only a failing test waits it out).
///
/// - Returns: whether it held in time.
@discardableResult
func eventually(
    timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

extension SQLiteStore {
    /// Makes a delayed task ready now.
    func makeReady(_ id: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE tasks SET run_after = 0 WHERE id = ?", arguments: [id])
        }
    }
}
