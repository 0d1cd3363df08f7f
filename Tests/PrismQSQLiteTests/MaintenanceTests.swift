import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

/// What retention leaves in the SQLite file; purging itself is in the conformance suite.
@Suite("Maintenance: retention and housekeeping", .timeLimit(.minutes(5)))
struct MaintenanceTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    @Test func purgedTasksLeaveNoHistoryRowsBehind() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let ids = try await queue.enqueue(batch: (0..<4).map { _ in NewTask(type: "t") }).map(\.task.id)
        for id in ids.prefix(3) { _ = try await queue.cancel(id: id) }
        clock.advance(by: .seconds(3600))
        let scheduler = MaintenanceScheduler(queue: queue, retention: .keeping(.seconds(1800)), now: { clock.now() })
        #expect(try await scheduler.runOnce() == 3)
        let (orphans, logs) = try await store.pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM task_logs WHERE task_id NOT IN (SELECT id FROM tasks)"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM task_logs")
            )
        }
        #expect(orphans == 0 && logs == 1, "only the queued task's history is left")
    }
}
