import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

@Suite("Maintenance: retention and housekeeping")
struct MaintenanceTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    @Test func purgeDeletesOnlyFinishedTasksPastTheCutoffWithTheirHistory() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let old = try await store.enqueue((0..<4).map { NewTask(type: "t", idempotencyKey: "old-\($0)") }).map(
            \.task.id)
        _ = try await queue.cancel(id: old[0])
        let lease = try #require(try await store.claim(ClaimRequest(workerID: "w")).first)
        _ = try await store.complete(lease.id, result: nil)
        try await store.force(old[2], to: .dead)
        try await store.pool.write { db in
            try db.execute(
                sql: "UPDATE tasks SET completed_at = ? WHERE id = ?", arguments: [TaskRow.millis(clock.now()), old[2]])
        }
        clock.advance(by: 3600)
        let recent = try await store.enqueue([NewTask(type: "t")])[0].task.id
        _ = try await queue.cancel(id: recent)

        let scheduler = MaintenanceScheduler(store: store, retention: .seconds(1800), now: { clock.now() })
        #expect(try await scheduler.runOnce() == 3, "cancelled, completed and dead tasks older than 30 minutes")
        let left = try await store.tasks(matching: TaskFilter(), page: PageRequest()).tasks.map(\.id)
        #expect(left == [recent, old[3]], "a queued task is never purged, however old")
        await #expect(throws: QueueError(.notFound)) { try await store.logs(taskID: old[0]) }
        let orphans = try await store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM task_logs WHERE task_id NOT IN (SELECT id FROM tasks)")
        }
        #expect(orphans == 0)
        let reused = try await queue.enqueue(NewTask(type: "t", idempotencyKey: "old-0"))
        #expect(reused.created, "a purged task's idempotency key is free again")
        #expect(try await MaintenanceScheduler(store: store, retention: nil).runOnce() == 0)
    }

    @Test func purgeWorksInBatches() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let ids = try await store.enqueue((0..<25).map { _ in NewTask(type: "t") }).map(\.task.id)
        for id in ids { _ = try await store.cancel(id: id) }
        clock.advance(by: 10)
        #expect(try await store.purge(finishedBefore: clock.now(), limit: 10) == 10)
        #expect(try await store.purge(finishedBefore: clock.now(), limit: 100) == 15)
        await #expect(throws: QueueError(.invalidArgument)) {
            try await store.purge(finishedBefore: clock.now(), limit: 0)
        }
        #expect(try await store.stats().byStatus.values.reduce(0, +) == 0)
    }
}
