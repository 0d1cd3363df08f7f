import Foundation
import GRDB
import GRDBSQLite
import PrismQ
import Testing

@testable import PrismQSQLite

@Suite("Claims, leases and fencing")
struct ClaimTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    func claim(
        _ store: SQLiteStore, _ strategy: SchedulingStrategy = .fifo, types: [String] = [], max: Int = 1,
        worker: String = "w1", lease: Duration = .seconds(10)
    ) async throws -> [Lease] {
        try await store.claim(
            ClaimRequest(workerID: worker, capabilities: types, strategy: strategy, leaseDuration: lease, maxTasks: max)
        )
    }

    /// Enqueues one task per priority, a millisecond apart, and returns their ids in order.
    func enqueue(_ store: SQLiteStore, priorities: [Int], type: String = "t") async throws -> [Int64] {
        var ids: [Int64] = []
        for priority in priorities {
            ids.append(try await store.enqueue([NewTask(type: type, priority: priority)])[0].task.id)
            clock.advance(by: 0.001)
        }
        return ids
    }

    @Test func fifoLifoAndPriorityClaimInTheirOrder() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let ids = try await enqueue(store, priorities: [0, 5, 5, -3, 10])
        func drain(_ strategy: SchedulingStrategy) async throws -> [Int64] {
            var order: [Int64] = []
            while let lease = try await claim(store, strategy).first {
                order.append(lease.task.id)
                _ = try await store.release(lease.id)
            }
            return order
        }
        // Released tasks go back in line by their new ready time, so take one strategy at a time.
        var order: [Int64] = []
        for _ in ids {
            let lease = try #require(try await claim(store, .priority).first)
            order.append(lease.task.id)
            _ = try await store.complete(lease.id, result: nil)
        }
        #expect(order == [ids[4], ids[1], ids[2], ids[0], ids[3]])
        #expect(try await drain(.fifo).isEmpty)

        let fresh = try await enqueue(store, priorities: [0, 0, 0])
        #expect(try await claim(store, .fifo).map(\.task.id) == [fresh[0]])
        #expect(try await claim(store, .lifo).map(\.task.id) == [fresh[2]])
        #expect(try await claim(store, .fifo, max: 5).map(\.task.id) == [fresh[1]])
    }

    @Test func delayedTasksWaitForTheirTime() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let later = try await store.enqueue([NewTask(type: "t", delay: .seconds(5))])[0].task
        for strategy in SchedulingStrategy.allCases {
            #expect(try await claim(store, strategy).isEmpty)
        }
        #expect(try await store.timeUntilReady(capabilities: []) == .seconds(5))
        #expect(try await store.timeUntilReady(capabilities: ["other"]) == nil)
        clock.advance(by: 5)
        #expect(try await store.timeUntilReady(capabilities: ["t"]) == .zero)
        #expect(try await claim(store, .weightedRandom).map(\.task.id) == [later.id])
    }

    @Test(arguments: SchedulingStrategy.allCases)
    func capabilitiesLimitClaimsToTheNamedTypes(strategy: SchedulingStrategy) async throws {
        let store = try makeStore(in: directory, clock: clock)
        for type in ["a", "b", "c", "a", "b", "c"] {
            _ = try await store.enqueue([NewTask(type: type, priority: 1)])
            clock.advance(by: 0.001)
        }
        let leases = try await claim(store, strategy, types: ["a", "c"], max: 10)
        #expect(leases.count == 4)
        #expect(Set(leases.map(\.task.type)) == ["a", "c"])
        #expect(try await claim(store, strategy, types: ["a", "c"]).isEmpty)
        #expect(try await claim(store, strategy, max: 10).map(\.task.type) == ["b", "b"])
        if strategy == .fifo {
            #expect(leases.map(\.task.id) == leases.map(\.task.id).sorted())
        }
    }

    @Test func aClaimSetsTheLeaseAndCountsTheAttempt() async throws {
        let store = try makeStore(in: directory, clock: clock)
        _ = try await store.enqueue([NewTask(type: "t", maxAttempts: 3)])
        let lease = try #require(try await claim(store, worker: "w7", lease: .seconds(30)).first)
        #expect(lease.task.status == .running && lease.task.attempts == 1)
        #expect(lease.task.claimedBy == "w7" && lease.task.claimedAt == clock.now())
        #expect(lease.expiresAt == clock.now().addingTimeInterval(30) && lease.task.leaseExpiresAt == lease.expiresAt)
        #expect(lease.task.leaseToken == lease.id.token)
        #expect(try await store.logs(taskID: lease.task.id).map(\.event) == [.enqueued, .claimed])
        let workers = try await store.workers()
        #expect(workers.map(\.id) == ["w7"] && workers[0].currentTasks == 1 && workers[0].state == .active)
    }

    @Test func anExpiredLeaseIsReclaimedAndTheStaleTokenChangesNothing() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let id = try await store.enqueue([NewTask(type: "t")])[0].task.id
        let first = try #require(try await claim(store, worker: "slow").first)
        clock.advance(by: 5)
        #expect(try await store.requeueExpired(limit: 10) == 0, "the lease has not run out")
        clock.advance(by: 6)
        #expect(try await store.requeueExpired(limit: 10) == 1)
        let requeued = try await store.task(id: id)
        #expect(requeued.status == .queued && requeued.lastError?.contains("slow") == true)
        let second = try #require(try await claim(store, worker: "fast").first)
        #expect(second.id.token != first.id.token && second.task.attempts == 2)

        await #expect(throws: QueueError(.leaseLost)) { try await store.complete(first.id, result: .null) }
        await #expect(throws: QueueError(.leaseLost)) {
            try await store.fail(first.id, error: "late", retryable: true, retryDelay: .zero)
        }
        await #expect(throws: QueueError(.leaseLost)) { try await store.release(first.id) }
        #expect(try await store.renew([first.id], for: .seconds(10)) == [.lost])
        let untouched = try await store.task(id: id)
        #expect(
            untouched.status == .running && untouched.claimedBy == "fast" && untouched.leaseToken == second.id.token)

        let done = try await store.complete(second.id, result: try RawJSON(validating: #"{"ok":true}"#))
        #expect(done.status == .completed && done.result?.text == #"{"ok":true}"#)
        await #expect(throws: QueueError(.leaseLost)) { try await store.complete(second.id, result: nil) }
        let completions = try await store.logs(taskID: id).filter { $0.event == .completed }
        #expect(completions.count == 1)
        await #expect(throws: QueueError(.notFound)) {
            try await store.complete(LeaseID(taskID: 999, token: 1), result: nil)
        }
    }

    @Test func renewalExtendsTheLeaseAndReportsCancellation() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let id = try await store.enqueue([NewTask(type: "t")])[0].task.id
        let lease = try #require(try await claim(store).first)
        clock.advance(by: 8)
        let renewed = try await store.renew(lease.id, for: .seconds(10))
        #expect(renewed.expiresAt == clock.now().addingTimeInterval(10) && !renewed.cancelRequested)
        clock.advance(by: 8)
        #expect(try await store.requeueExpired(limit: 10) == 0, "the renewed lease still holds")
        _ = try await store.cancel(id: id)
        #expect(try await store.renew(lease.id, for: .seconds(10)).cancelRequested)
        let stopped = try await store.fail(lease.id, error: "stopped", retryable: true, retryDelay: .zero)
        #expect(stopped.status == .cancelled && stopped.completedAt == clock.now())
        #expect(try await claim(store).isEmpty, "a cancelled task is never claimed again")
    }

    @Test func aCancelRequestedTaskThatCompletesEndsCompletedAndOneWhoseLeaseExpiresEndsCancelled() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let ids = try await store.enqueue([NewTask(type: "t"), NewTask(type: "t")]).map(\.task.id)
        let leases = try await claim(store, max: 2)
        _ = try await store.cancel(id: ids[0])
        _ = try await store.cancel(id: ids[1])
        #expect(try await store.complete(leases[0].id, result: nil).status == .completed)
        clock.advance(by: 11)
        #expect(try await store.requeueExpired(limit: 10) == 1)
        #expect(try await store.task(id: ids[1]).status == .cancelled)
    }

    @Test func failuresRetryAfterTheirDelayThenGoDead() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let id = try await store.enqueue([NewTask(type: "t", maxAttempts: 2)])[0].task.id
        let first = try #require(try await claim(store).first)
        let retrying = try await store.fail(first.id, error: "boom 1", retryable: true, retryDelay: .seconds(4))
        #expect(retrying.status == .queued && retrying.lastError == "boom 1")
        #expect(retrying.runAfter == clock.now().addingTimeInterval(4))
        #expect(try await claim(store).isEmpty)
        clock.advance(by: 4)
        let second = try #require(try await claim(store).first)
        #expect(second.task.attempts == 2)
        let dead = try await store.fail(second.id, error: "boom 2", retryable: true, retryDelay: .seconds(4))
        #expect(dead.status == .dead && dead.lastError == "boom 2" && dead.completedAt == clock.now())
        clock.advance(by: 61)
        #expect(try await claim(store).isEmpty)
        #expect(try await store.stats().failedLastMinute == 0 && store.statistics.errors == 0)
        let events = try await store.logs(taskID: id).map(\.event)
        #expect(events == [.enqueued, .claimed, .failed, .claimed, .failed])
    }

    @Test func nonRetryableFailuresAndExhaustedLeasesGoDead() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let ids = try await store.enqueue([NewTask(type: "t", maxAttempts: 5), NewTask(type: "t", maxAttempts: 1)])
            .map(\.task.id)
        let leases = try await claim(store, max: 2)
        let permanent = try await store.fail(leases[0].id, error: "bad input", retryable: false, retryDelay: .zero)
        #expect(permanent.status == .dead && permanent.attempts == 1)
        clock.advance(by: 11)
        #expect(try await store.requeueExpired(limit: 10) == 1)
        #expect(try await store.task(id: ids[1]).status == .dead)
        #expect(try await store.stats().failedLastMinute == 2)
    }

    @Test func theSweeperMovesEveryExpiredLeaseInBatches() async throws {
        let store = try makeStore(in: directory, clock: clock)
        _ = try await store.enqueue((0..<5).map { _ in NewTask(type: "t") })
        _ = try await claim(store, max: 3, lease: .seconds(10))
        _ = try await claim(store, max: 2, lease: .seconds(60))
        let sweeper = Sweeper(store: store, batchSize: 2)
        #expect(try await sweeper.sweep() == 0)
        clock.advance(by: 11)
        #expect(try await sweeper.sweep() == 3, "three expired leases, two per transaction")
        #expect(try await store.stats().byStatus[.queued] == 3)
        #expect(try await store.stats().byStatus[.running] == 2)
    }

    @Test func releaseHandsTheTaskBackWithoutSpendingTheAttempt() async throws {
        let store = try makeStore(in: directory, clock: clock)
        let id = try await store.enqueue([NewTask(type: "t", maxAttempts: 1)])[0].task.id
        let lease = try #require(try await claim(store).first)
        let released = try await store.release(lease.id)
        #expect(released.status == .queued && released.attempts == 0 && released.leaseToken == nil)
        #expect(try await claim(store).first?.task.id == id)
    }

    @Test func theRegistryTracksActiveStaleAndStoppedWorkers() async throws {
        let store = try makeStore(in: directory, clock: clock)
        try await store.register(
            WorkerRegistration(id: "a", hostname: "h", pid: 42, capabilities: ["x", "y"], strategy: .priority)
        )
        try await store.register(WorkerRegistration(id: "b"))
        clock.advance(by: 20)
        try await store.workerHeartbeat(id: "a")
        clock.advance(by: 15)
        var workers = try await store.workers()
        #expect(workers.map(\.id) == ["a", "b"])
        #expect(workers[0].state == .active && workers[1].state == .stale)
        #expect(workers[0].hostname == "h" && workers[0].pid == 42 && workers[0].capabilities == ["x", "y"])
        #expect(workers[0].strategy == "priority")
        try await store.workerStopped(id: "b")
        workers = try await store.workers()
        #expect(workers.first { $0.id == "b" }?.state == .stopped)
        let stats = try await store.stats()
        #expect(stats.activeWorkers == 1 && stats.staleWorkers == 0)
    }

    @Test func weightedRandomSharesFollowTheWeightsAndNoClassStarves() async throws {
        let store = try makeStore(in: directory)
        let weights = [1: 0.1, 3: 0.3, 6: 0.6]
        for priority in weights.keys {
            _ = try await store.enqueue((0..<200).map { _ in NewTask(type: "t", priority: priority) })
        }
        // Each claimed task is handed back at once, so the ready set stays the same.
        var counts: [Int: Int] = [:]
        let rounds = 2000
        for _ in 0..<rounds {
            let lease = try #require(try await claim(store, .weightedRandom).first)
            counts[lease.task.priority, default: 0] += 1
            _ = try await store.release(lease.id)
        }
        for (priority, expected) in weights {
            let share = Double(counts[priority, default: 0]) / Double(rounds)
            // ±5 standard deviations of a binomial share.
            let bound = 5 * (expected * (1 - expected) / Double(rounds)).squareRoot()
            #expect(abs(share - expected) < bound, "priority \(priority): \(share) vs \(expected)")
        }
        #expect(counts.values.allSatisfy { $0 > 0 })
    }

    /// The claim reads the same number of rows whether 1,000 or 100,000 tasks are ready.
    @Test func theWeightedRandomIndexIsBuiltByTheFirstWeightedRandomClaimOnly() async throws {
        let store = try makeStore(in: directory, clock: clock)
        func hasIndex(_ store: SQLiteStore) async throws -> Bool {
            try await store.pool.read { db in try SQLiteSchema.hasWeightedRandomIndex(db) }
        }
        let ids = try await enqueue(store, priorities: [1, 1, 1, 1])
        #expect(try await hasIndex(store) == false)
        for strategy in [SchedulingStrategy.fifo, .lifo, .priority] {
            _ = try await claim(store, strategy)
        }
        #expect(try await hasIndex(store) == false, "other strategies do without it")
        let other = try makeStore(in: directory, clock: clock)
        let lease = try #require(try await claim(other, .weightedRandom).first)
        #expect(ids.contains(lease.task.id), "it indexes the tasks queued before it existed")
        let seenHere = try await hasIndex(store)
        let seenThere = try await hasIndex(other)
        #expect(seenHere && seenThere)
        _ = try await enqueue(store, priorities: [1])
        #expect(try await claim(store, .weightedRandom, max: 5).count == 1, "and those enqueued since")
    }

    @Test func claimCostStaysFlatFromAThousandToAHundredThousandReadyTasks() async throws {
        let store = try makeStore(in: directory, clock: clock)
        try await store.prepare(for: .weightedRandom)
        func steps(_ strategy: SchedulingStrategy, types: [String]) async throws -> (Int32, Int32, Int32) {
            let now = TaskRow.millis(clock.now())
            return try await store.pool.read { db in
                let queuedTypes = try String.fetchAll(db, sql: ClaimSQL.queuedTypes)
                let named =
                    types.isEmpty && (strategy == .priority || strategy == .weightedRandom) ? queuedTypes : types
                let sql =
                    named.isEmpty ? ClaimSQL.anyType(strategy) : ClaimSQL.namedTypes(strategy, typeCount: named.count)
                let statement = try db.makeStatement(sql: sql)
                try statement.setArguments(
                    StatementArguments([now, 16] as [any DatabaseValueConvertible]) + StatementArguments(named))
                _ = try Row.fetchAll(statement)
                let handle = statement.sqliteStatement
                return (
                    sqlite3_stmt_status(handle, SQLITE_STMTSTATUS_VM_STEP, 0),
                    sqlite3_stmt_status(handle, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
                    sqlite3_stmt_status(handle, SQLITE_STMTSTATUS_SORT, 0)
                )
            }
        }
        func fill(to count: Int) async throws {
            let current = try await store.stats().byStatus[.queued] ?? 0
            for start in stride(from: current, to: count, by: 1000) {
                _ = try await store.enqueue(
                    (start..<min(start + 1000, count)).map { n in
                        NewTask(type: ["a", "b", "c"][n % 3], priority: n % 11 - 5)
                    }
                )
            }
            clock.advance(by: 1)
        }
        let cases = SchedulingStrategy.allCases.flatMap { strategy in [(strategy, [String]()), (strategy, ["a", "c"])] }
        try await fill(to: 1000)
        var small: [Int32] = []
        for (strategy, types) in cases {
            small.append(try await steps(strategy, types: types).0)
        }
        try await fill(to: 100_000)
        for ((strategy, types), before) in zip(cases, small) {
            let (after, fullScans, sorts) = try await steps(strategy, types: types)
            // Sorting only ever touches the few rows each per-type range returns.
            #expect(fullScans == 0 && sorts <= 4, "\(strategy) \(types)")
            #expect(after <= before * 2, "\(strategy) \(types): \(before) VM steps at 1k, \(after) at 100k")
        }
        for strategy in SchedulingStrategy.allCases {
            #expect(try await claim(store, strategy, types: ["b"], max: 3).count == 3)
        }
    }
}
