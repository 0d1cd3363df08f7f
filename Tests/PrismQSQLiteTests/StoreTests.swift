import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

@Suite("SQLite store operations")
struct StoreTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    @Test func enqueueStoresEveryFieldAndRunsImmediatelyByDefault() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory, clock: clock))
        let result = try await queue.enqueue(
            NewTask(
                type: "email.send", payload: try RawJSON(validating: #"{"to":"a@b.c"}"#), priority: 5,
                maxAttempts: 7, idempotencyKey: "welcome-42", timeout: .seconds(30)
            )
        )
        #expect(result.created)
        let task = result.task
        #expect(task.id > 0)
        #expect(task.type == "email.send")
        #expect(task.payload.text == #"{"to":"a@b.c"}"#)
        #expect(task.status == .queued)
        #expect(task.priority == 5)
        #expect(task.attempts == 0)
        #expect(task.maxAttempts == 7)
        #expect(task.idempotencyKey == "welcome-42")
        #expect(task.createdAt == clock.now())
        #expect(task.runAfter == task.createdAt)
        #expect(task.timeout == .seconds(30))
        #expect(task.claimedBy == nil && task.leaseToken == nil && task.result == nil && !task.cancelRequested)
        #expect(try await queue.task(id: task.id) == task)
    }

    @Test func delaysAndRunAfterTimesSetRunAfter() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory, clock: clock))
        let delayed = try await queue.enqueue("t", payload: ["n": 1], delay: .milliseconds(10_500))
        #expect(delayed.runAfter.timeIntervalSince(clock.now()) == 10.5)
        let at = clock.now().addingTimeInterval(3600)
        let scheduled = try await queue.enqueue(NewTask(type: "t", runAfter: at)).task
        #expect(scheduled.runAfter == at)
    }

    @Test func invalidTasksChangeNothing() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        await #expect(throws: QueueError(.invalidArgument)) {
            try await queue.enqueue(batch: [NewTask(type: "ok"), NewTask(type: "not ok")])
        }
        var limited = SQLiteConfiguration()
        limited.validation = TaskValidation(maxPayloadBytes: 8)
        let small = try SQLiteStore(path: store.path, configuration: limited)
        let error = await #expect(throws: QueueError.self) {
            try await small.enqueue([NewTask(type: "t", payload: try RawJSON(validating: "[1,2,3,4,5]"))])
        }
        #expect(error?.code == .payloadTooLarge)
        #expect(try await queue.stats().byStatus.values.reduce(0, +) == 0)
    }

    @Test func aBatchIsAllOrNothingEvenWhenTheDatabaseRefusesOneRow() async throws {
        let store = try makeStore(in: directory, clock: clock)
        try await store.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER refuse BEFORE INSERT ON tasks WHEN NEW.type = 'poison'
                    BEGIN SELECT RAISE(ABORT, 'refused'); END
                    """
            )
        }
        await #expect(throws: QueueError(.storage)) {
            try await store.enqueue([NewTask(type: "a"), NewTask(type: "b"), NewTask(type: "poison")])
        }
        #expect(try await store.tasks(matching: TaskFilter(), page: PageRequest()).tasks.isEmpty)
        let results = try await store.enqueue((0..<1000).map { NewTask(type: "bulk", priority: $0 % 7) })
        #expect(results.count == 1000 && results.allSatisfy(\.created))
        #expect(Set(results.map(\.task.id)).count == 1000)
    }

    @Test func idempotencyKeysReturnTheExistingTaskInAnyStatus() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let first = try await queue.enqueue(NewTask(type: "t", payload: .null, idempotencyKey: "k"))
        let again = try await queue.enqueue(NewTask(type: "other", priority: 9, idempotencyKey: "k"))
        #expect(first.created && !again.created)
        #expect(again.task == first.task)
        _ = try await queue.cancel(id: first.task.id)
        let afterCancel = try await queue.enqueue(NewTask(type: "t", idempotencyKey: "k"))
        #expect(!afterCancel.created && afterCancel.task.status == .cancelled)
        let batch = try await queue.enqueue(batch: [
            NewTask(type: "t", idempotencyKey: "b"), NewTask(type: "t", idempotencyKey: "b"),
        ])
        #expect(batch.map(\.created) == [true, false])
        #expect(batch[0].task.id == batch[1].task.id)
    }

    @Test func concurrentEnqueuesWithOneKeyCreateExactlyOneTask() async throws {
        let store = try makeStore(in: directory)
        let ids = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
            for n in 0..<64 {
                group.addTask {
                    try await store.enqueue([NewTask(type: "t", priority: n % 10, idempotencyKey: "same")])[0]
                }
            }
            return try await group.reduce(into: [EnqueueResult]()) { $0.append($1) }
        }
        #expect(Set(ids.map(\.task.id)).count == 1)
        #expect(ids.filter(\.created).count == 1)
        #expect(try await store.stats().byStatus[.queued] == 1)
    }

    @Test func unknownIdsAreNotFoundEverywhere() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory))
        await #expect(throws: QueueError(.notFound)) { try await queue.task(id: 99) }
        await #expect(throws: QueueError(.notFound)) { try await queue.cancel(id: 99) }
        await #expect(throws: QueueError(.notFound)) { try await queue.retry(id: 99) }
        await #expect(throws: QueueError(.notFound)) { try await queue.logs(taskID: 99) }
    }

    @Test func cancelFollowsTheContractForEachState() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let queued = try await queue.enqueue(NewTask(type: "t")).task
        clock.advance(by: 1)
        let cancelled = try await queue.cancel(id: queued.id)
        #expect(cancelled.status == .cancelled && cancelled.completedAt == clock.now())

        let running = try await queue.enqueue(NewTask(type: "t")).task
        try await store.force(running.id, to: .running, claimedBy: "w1")
        let marked = try await queue.cancel(id: running.id)
        #expect(marked.status == .running && marked.cancelRequested)
        #expect(try await queue.cancel(id: running.id).cancelRequested)

        for status in [TaskStatus.completed, .dead] {
            let task = try await queue.enqueue(NewTask(type: "t")).task
            try await store.force(task.id, to: status)
            await #expect(throws: QueueError(.conflict)) { try await queue.cancel(id: task.id) }
            #expect(try await queue.task(id: task.id).status == status)
        }
        await #expect(throws: QueueError(.conflict)) { try await queue.cancel(id: queued.id) }
    }

    @Test func retryRequeuesDeadAndCancelledTasksWithAFreshBudget() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let dead = try await queue.enqueue(NewTask(type: "t", maxAttempts: 2)).task
        try await store.force(dead.id, to: .dead, claimedBy: "w")
        clock.advance(by: 5)
        let retried = try await queue.retry(id: dead.id)
        #expect(retried.status == .queued && retried.attempts == 0 && retried.maxAttempts == 2)
        #expect(retried.runAfter == clock.now() && retried.completedAt == nil && retried.claimedBy == nil)

        let cancelled = try await queue.cancel(id: try await queue.enqueue(NewTask(type: "t")).task.id)
        #expect(try await queue.retry(id: cancelled.id).status == .queued)

        for status in [TaskStatus.queued, .running, .completed] {
            let task = try await queue.enqueue(NewTask(type: "t")).task
            if status != .queued { try await store.force(task.id, to: status) }
            await #expect(throws: QueueError(.conflict)) { try await queue.retry(id: task.id) }
        }
    }

    @Test func everyStateChangeAppendsALogRow() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let task = try await queue.enqueue(NewTask(type: "t")).task
        _ = try await queue.cancel(id: task.id)
        _ = try await queue.retry(id: task.id)
        try await store.force(task.id, to: .running, claimedBy: "w9")
        _ = try await queue.cancel(id: task.id)
        let logs = try await queue.logs(taskID: task.id)
        #expect(logs.map(\.event) == [.enqueued, .cancelled, .retried, .cancelRequested])
        #expect(logs.allSatisfy { $0.taskID == task.id && $0.at == clock.now() })
        #expect(logs[3].workerID == "w9")
    }

    @Test func statsCountStatusesTypesAgesAndThroughput() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let queue = TaskQueue(store: store)
        let empty = try await queue.stats()
        #expect(empty.oldestReadyAgeSeconds == nil)
        #expect(empty.byStatus.count == TaskStatus.allCases.count && empty.byStatus.values.allSatisfy { $0 == 0 })

        _ = try await queue.enqueue(batch: [NewTask(type: "a"), NewTask(type: "a"), NewTask(type: "b")])
        _ = try await queue.enqueue(NewTask(type: "b", delay: .seconds(60)))
        clock.advance(by: 2.5)
        let done = try await queue.enqueue(NewTask(type: "c")).task
        try await store.pool.write { db in
            try db.execute(
                sql: "UPDATE tasks SET status = 'completed', completed_at = ? WHERE id = ?",
                arguments: [TaskRow.millis(clock.now()), done.id]
            )
            try SQLiteStore.appendLog(taskID: done.id, event: .failed, at: TaskRow.millis(clock.now()), db: db)
        }
        let stats = try await queue.stats()
        #expect(stats.byStatus[.queued] == 4 && stats.byStatus[.completed] == 1)
        #expect(stats.byType["a"]?[.queued] == 2 && stats.byType["b"]?[.queued] == 2)
        #expect(stats.byType["c"]?[.completed] == 1 && stats.byType["c"]?[.queued] == 0)
        #expect(stats.oldestReadyAgeSeconds == 2.5)
        #expect(stats.completedLastMinute == 1 && stats.completedLastHour == 1)
        #expect(stats.failedLastMinute == 1 && stats.failedLastHour == 1)
        clock.advance(by: 120)
        let later = try await queue.stats()
        #expect(later.completedLastMinute == 0 && later.completedLastHour == 1 && later.failedLastMinute == 0)
        #expect(later.oldestReadyAgeSeconds == 122.5)
    }

    @Test func poolStatisticsCountReadsWritesAndErrors() async throws {
        let store = try makeStore(in: directory)
        let before = store.statistics
        #expect(before.readConnections == 8 && before.writeConnections == 1)
        _ = try await store.enqueue([NewTask(type: "t")])
        _ = try await store.stats()
        await #expect(throws: QueueError(.notFound)) { try await store.task(id: 12345) }
        let after = store.statistics
        #expect(after.writes == before.writes + 1)
        #expect(after.reads == before.reads + 2)
        #expect(after.errors == before.errors)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<32 {
                group.addTask { _ = try? await store.enqueue([NewTask(type: "t")]) }
            }
        }
        #expect(store.statistics.writes == after.writes + 32)
        #expect(store.statistics.waits > 0)
    }
}
