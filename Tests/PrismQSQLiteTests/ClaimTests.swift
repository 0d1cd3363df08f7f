import Foundation
import GRDB
import GRDBSQLite
import PrismQ
import Testing

@testable import PrismQSQLite

/// What only SQLite shows about claims: its indexes and their cost.
@Suite("SQLite claims", .timeLimit(.minutes(5)))
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
            clock.advance(by: .milliseconds(1))
        }
        return ids
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
            clock.advance(by: .seconds(1))
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
