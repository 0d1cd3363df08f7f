import Foundation
import PrismQ

/// Enqueueing, idempotency, reading, listing, cancelling, retrying and history.
enum ProducerChecks {
    static let all: [ConformanceCheck] = [
        ConformanceCheck("enqueueStoresEveryFieldAndRunsImmediatelyByDefault", enqueueStoresEveryField),
        ConformanceCheck("delaysAndRunAfterTimesSetRunAfter", delaysSetRunAfter),
        ConformanceCheck("invalidTasksChangeNothing", invalidTasksChangeNothing),
        ConformanceCheck("aBatchOfAThousandIsStoredWithDistinctIds", aBatchOfAThousand),
        ConformanceCheck("idempotencyKeysReturnTheExistingTaskInAnyStatus", idempotencyKeys),
        ConformanceCheck("concurrentEnqueuesWithOneKeyCreateExactlyOneTask", concurrentIdempotentEnqueues),
        ConformanceCheck("unknownIdsAreNotFoundEverywhere", unknownIdsAreNotFound),
        ConformanceCheck("cancelFollowsTheContractForEachState", cancelFollowsTheContract),
        ConformanceCheck("retryRequeuesDeadAndCancelledTasksWithAFreshBudget", retryRequeues),
        ConformanceCheck("everyStateChangeAppendsALogEntry", everyStateChangeIsLogged),
        ConformanceCheck("listPagesCoverEveryTaskOnceUnderConcurrentInserts", listPagesUnderInserts),
        ConformanceCheck("filtersNarrowTheListAndPagesEndWithoutACursor", filtersNarrowTheList),
        ConformanceCheck("payloadMatchesCompareJSONValues", payloadMatches),
    ]

    static func enqueueStoresEveryField(_ h: StoreHarness) async throws {
        let result = try await h.queue.enqueue(
            NewTask(
                type: "email.send", payload: try RawJSON(validating: #"{"to":"a@b.c"}"#), priority: 5,
                maxAttempts: 7, idempotencyKey: "welcome-42", timeout: .seconds(30)
            )
        )
        try expect(result.created)
        let task = result.task
        try expect(task.id > 0)
        try expect(task.type == "email.send")
        try expect(task.payload.text == #"{"to":"a@b.c"}"#)
        try expect(task.status == .queued)
        try expect(task.priority == 5)
        try expect(task.attempts == 0)
        try expect(task.maxAttempts == 7)
        try expect(task.idempotencyKey == "welcome-42")
        try expect(task.createdAt == h.clock.now())
        try expect(task.runAfter == task.createdAt)
        try expect(task.timeout == .seconds(30))
        try expect(task.claimedBy == nil && task.leaseToken == nil && task.result == nil && !task.cancelRequested)
        try expect(try await h.queue.task(id: task.id) == task, "the task read back is the task returned")
    }

    static func delaysSetRunAfter(_ h: StoreHarness) async throws {
        let delayed = try await h.queue.enqueue("t", payload: ["n": 1], delay: .milliseconds(10_500))
        try expect(delayed.runAfter.timeIntervalSince(h.clock.now()) == 10.5)
        let at = h.clock.now().addingTimeInterval(3600)
        let scheduled = try await h.queue.enqueue(NewTask(type: "t", runAfter: at)).task
        try expect(scheduled.runAfter == at)
        try expect(try await h.queue.task(id: scheduled.id).runAfter == at)
    }

    static func invalidTasksChangeNothing(_ h: StoreHarness) async throws {
        try await expect(throws: .invalidArgument) {
            try await h.queue.enqueue(batch: [NewTask(type: "ok"), NewTask(type: "not ok")])
        }
        var limited = TaskQueueConfiguration()
        limited.limits.maxPayloadBytes = 8
        let small = TaskQueue(store: h.store, configuration: limited)
        try await expect(throws: .payloadTooLarge) {
            try await small.enqueue(NewTask(type: "t", payload: try RawJSON(validating: "[1,2,3,4,5]")))
        }
        try await expect(throws: .invalidArgument) { try await h.queue.enqueue(batch: []) }
        try expect(try await h.queue.stats().byStatus.values.reduce(0, +) == 0, "nothing was stored")
    }

    static func aBatchOfAThousand(_ h: StoreHarness) async throws {
        let results = try await h.queue.enqueue(batch: (0..<1000).map { NewTask(type: "bulk", priority: $0 % 7) })
        try expect(results.count == 1000 && results.allSatisfy(\.created))
        try expect(Set(results.map(\.task.id)).count == 1000)
        try expect(results.map(\.task.id) == results.map(\.task.id).sorted(), "ids grow in batch order")
        try expect(try await h.queue.stats().byStatus[.queued] == 1000)
    }

    static func idempotencyKeys(_ h: StoreHarness) async throws {
        let first = try await h.queue.enqueue(NewTask(type: "t", payload: .null, idempotencyKey: "k"))
        let again = try await h.queue.enqueue(NewTask(type: "other", priority: 9, idempotencyKey: "k"))
        try expect(first.created && !again.created)
        try expect(again.task == first.task)
        _ = try await h.queue.cancel(id: first.task.id)
        let afterCancel = try await h.queue.enqueue(NewTask(type: "t", idempotencyKey: "k"))
        try expect(!afterCancel.created && afterCancel.task.status == .cancelled)
        let batch = try await h.queue.enqueue(batch: [
            NewTask(type: "t", idempotencyKey: "b"), NewTask(type: "t", idempotencyKey: "b"),
        ])
        try expect(batch.map(\.created) == [true, false])
        try expect(batch[0].task.id == batch[1].task.id)
    }

    static func concurrentIdempotentEnqueues(_ h: StoreHarness) async throws {
        let queue = h.queue
        let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
            for n in 0..<64 {
                group.addTask {
                    try await queue.enqueue(NewTask(type: "t", priority: n % 10, idempotencyKey: "same"))
                }
            }
            return try await group.reduce(into: [EnqueueResult]()) { $0.append($1) }
        }
        try expect(Set(results.map(\.task.id)).count == 1)
        try expect(results.filter(\.created).count == 1)
        try expect(try await queue.stats().byStatus[.queued] == 1)
    }

    static func unknownIdsAreNotFound(_ h: StoreHarness) async throws {
        let known = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let unknown = known + 1000
        try await expect(throws: .notFound) { try await h.queue.task(id: unknown) }
        try await expect(throws: .notFound) { try await h.queue.cancel(id: unknown) }
        try await expect(throws: .notFound) { try await h.queue.retry(id: unknown) }
        try await expect(throws: .notFound) { try await h.queue.logs(taskID: unknown) }
        try await expect(throws: .notFound) {
            try await h.queue.complete(LeaseID(taskID: unknown, token: 1), result: nil)
        }
    }

    static func cancelFollowsTheContract(_ h: StoreHarness) async throws {
        let queued = try await h.queue.enqueue(NewTask(type: "t")).task
        h.clock.advance(by: .seconds(1))
        let cancelled = try await h.queue.cancel(id: queued.id)
        try expect(cancelled.status == .cancelled && cancelled.completedAt == h.clock.now())

        let running = try await h.runningTask(worker: "w1")
        let marked = try await h.queue.cancel(id: running.task.id)
        try expect(marked.status == .running && marked.cancelRequested, "a running task is marked")
        try expect(try await h.queue.cancel(id: running.task.id).cancelRequested, "cancelling twice is fine")

        for status in [TaskStatus.completed, .dead] {
            let task = try await h.finishedTask(status)
            try await expect(throws: .conflict) { try await h.queue.cancel(id: task.id) }
            try expect(try await h.queue.task(id: task.id).status == status)
        }
        try await expect(throws: .conflict) { try await h.queue.cancel(id: queued.id) }
    }

    static func retryRequeues(_ h: StoreHarness) async throws {
        let lease = try await h.runningTask(maxAttempts: 2)
        _ = try await h.queue.fail(lease.id, error: "bad", retryable: false)
        h.clock.advance(by: .seconds(5))
        let retried = try await h.queue.retry(id: lease.task.id)
        try expect(retried.status == .queued && retried.attempts == 0 && retried.maxAttempts == 2)
        try expect(retried.runAfter == h.clock.now() && retried.completedAt == nil && retried.claimedBy == nil)

        let cancelled = try await h.finishedTask(.cancelled)
        try expect(try await h.queue.retry(id: cancelled.id).status == .queued)

        let queued = try await h.queue.enqueue(NewTask(type: "t")).task
        let running = try await h.runningTask()
        let completed = try await h.finishedTask(.completed)
        for task in [queued, running.task, completed] {
            try await expect(throws: .conflict) { try await h.queue.retry(id: task.id) }
        }
    }

    static func everyStateChangeIsLogged(_ h: StoreHarness) async throws {
        let task = try await h.queue.enqueue(NewTask(type: "logged")).task
        _ = try await h.queue.cancel(id: task.id)
        _ = try await h.queue.retry(id: task.id)
        let lease = try require(try await h.claim(types: ["logged"], worker: "w9").first)
        _ = try await h.queue.cancel(id: task.id)
        _ = try await h.queue.release(lease.id)
        let logs = try await h.queue.logs(taskID: task.id)
        try expect(
            logs.map(\.event) == [.enqueued, .cancelled, .retried, .claimed, .cancelRequested, .cancelled],
            "\(logs.map(\.event))")
        try expect(logs.allSatisfy { $0.taskID == task.id && $0.at == h.clock.now() })
        try expect(logs[3].workerID == "w9" && logs[5].workerID == "w9")
        try expect(logs.map(\.id) == logs.map(\.id).sorted(), "oldest first")
    }

    static func listPagesUnderInserts(_ h: StoreHarness) async throws {
        let queue = h.queue
        let initial = try await queue.enqueue(batch: (0..<500).map { NewTask(type: $0 % 2 == 0 ? "even" : "odd") })
        let expected = Set(initial.map(\.task.id))
        let inserter = Task {
            for _ in 0..<60 {
                _ = try await queue.enqueue(batch: (0..<5).map { _ in NewTask(type: "even") })
            }
        }
        var seen: [Int64] = []
        var cursor: PageCursor?
        repeat {
            let page = try await queue.tasks(page: PageRequest(limit: 37, cursor: cursor))
            seen += page.tasks.map(\.id)
            cursor = page.nextCursor
            await Task.yield()
        } while cursor != nil
        try await inserter.value
        try expect(seen.count == Set(seen).count, "no task appears twice")
        try expect(expected.isSubset(of: Set(seen)), "every task that existed when the list began appears")
        try expect(seen == seen.sorted(by: >), "newest first")
    }

    static func filtersNarrowTheList(_ h: StoreHarness) async throws {
        let tasks = try await h.queue.enqueue(batch: (0..<30).map { NewTask(type: $0 % 3 == 0 ? "a" : "b") }).map(
            \.task)
        // The two oldest go dead: a claim of their type takes them first (FIFO).
        for expected in [tasks[0], tasks[1]] {
            let lease = try require(try await h.claim(types: [expected.type]).first)
            try expect(lease.task.id == expected.id)
            _ = try await h.queue.fail(lease.id, error: "x", retryable: false)
        }
        func all(_ filter: TaskFilter, limit: Int) async throws -> [Int64] {
            var ids: [Int64] = []
            var cursor: PageCursor?
            repeat {
                let page = try await h.queue.tasks(matching: filter, page: PageRequest(limit: limit, cursor: cursor))
                try expect(page.tasks.count <= limit)
                ids += page.tasks.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            return ids
        }
        try expect(
            try await all(TaskFilter(type: "a"), limit: 3) == tasks.filter { $0.type == "a" }.map(\.id).reversed())
        try expect(try await all(TaskFilter(status: .dead), limit: 1) == [tasks[1].id, tasks[0].id])
        try expect(try await all(TaskFilter(status: .dead, type: "b"), limit: 5) == [tasks[1].id])
        try expect(try await all(TaskFilter(), limit: 1000).count == 30)
        let exact = try await h.queue.tasks(matching: TaskFilter(type: "a"), page: PageRequest(limit: 10))
        try expect(exact.tasks.count == 10 && exact.nextCursor == nil, "a full last page has no cursor")
        try await expect(throws: .invalidArgument) { try await h.queue.tasks(page: PageRequest(limit: 0)) }
        try await expect(throws: .invalidArgument) {
            try await h.queue.tasks(matching: TaskFilter(type: "no spaces"))
        }
    }

    static func payloadMatches(_ h: StoreHarness) async throws {
        let payloads = [#"{"user":42,"plan":"pro"}"#, #"{"user":"42"}"#, #"{"user":7,"plan":null}"#, #"[1]"#]
        let ids = try await h.queue.enqueue(
            batch: try payloads.map { NewTask(type: "p", payload: try RawJSON(validating: $0)) }
        ).map(\.task.id)
        func matching(_ text: String, type: String? = nil) async throws -> [Int64] {
            let filter = TaskFilter(type: type, payload: try PayloadMatch(parsing: text))
            return try await h.queue.tasks(matching: filter).tasks.map(\.id)
        }
        try expect(try await matching("user=42") == [ids[0]], "a number matches the number only")
        try expect(try await matching(#"user="42""#) == [ids[1]], "a string matches the string only")
        try expect(
            try await matching("plan=null") == [ids[3], ids[2], ids[1]], "null matches a null and a missing field")
        try expect(try await matching("user=42", type: "other").isEmpty, "it combines with the type")
    }
}
