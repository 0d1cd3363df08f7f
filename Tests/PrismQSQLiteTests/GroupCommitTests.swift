import Foundation
import GRDB
import PrismQ
import PrismQHarness
import Testing

@testable import PrismQSQLite

@Suite("Group commit", .timeLimit(.minutes(5)))
struct GroupCommitTests {
    let directory = TemporaryDirectory()

    @Test func concurrentWritesShareTransactionsAndAFailureRollsBackOnlyItsOwnWrite() async throws {
        let store = try makeStore(in: directory)
        struct Refused: Error {}
        let before = store.groupCommit.transactions
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for n in 0..<200 {
                group.addTask {
                    do {
                        try await store.groupCommit.write { db in
                            try db.execute(
                                sql:
                                    "INSERT INTO tasks (type, payload, status, created_at, run_after) VALUES (?, 'null', 'queued', 0, 0)",
                                arguments: ["n\(n)"]
                            )
                            if n % 3 == 0 { throw Refused() }
                        }
                        return (n, true)
                    } catch {
                        return (n, false)
                    }
                }
            }
            return await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { n, succeeded in succeeded == (n % 3 != 0) })
        let stored = try await store.pool.read { db in try String.fetchSet(db, sql: "SELECT type FROM tasks") }
        #expect(stored == Set((0..<200).filter { $0 % 3 != 0 }.map { "n\($0)" }), "only the failing writes rolled back")
        let transactions = store.groupCommit.transactions - before
        #expect(transactions < 200, "\(transactions) transactions for 200 concurrent writes")
    }

    @Test func concurrentEnqueuesAreAllStoredWithTheirLogsAndIdempotencyStillHolds() async throws {
        let store = try makeStore(in: directory)
        let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
            for n in 0..<300 {
                group.addTask {
                    try await store.enqueue([NewTask(type: "t", idempotencyKey: n % 10 == 0 ? "shared" : "k\(n)")])[0]
                }
            }
            return try await group.reduce(into: [EnqueueResult]()) { $0.append($1) }
        }
        #expect(results.filter(\.created).count == 271, "270 unique keys and one shared one")
        #expect(Set(results.filter { $0.task.idempotencyKey == "shared" }.map(\.task.id)).count == 1)
        #expect(try await store.stats().byStatus[.queued] == 271)
        let logs = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM task_logs") }
        #expect(logs == 271)
    }

    /// A `BEGIN` that stays busy fails every write waiting behind it, each caller once (none
    /// left hanging), and stores nothing; the next write after the lock goes through.
    @Test func aBusyBeginFailsEveryWaitingWriteAndTheNextOneGoesThrough() async throws {
        var quick = SQLiteConfiguration()
        quick.profile.busyTimeout = .milliseconds(100)
        let store = try SQLiteStore(path: directory.file("queue.db"), configuration: quick)
        let blocker = try SQLiteWriteLock(path: store.path)
        let codes = await withTaskGroup(of: QueueError.Code?.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        _ = try await store.enqueue([NewTask(type: "t")])
                        return nil
                    } catch {
                        return (error as? QueueError)?.code
                    }
                }
            }
            return await group.reduce(into: [QueueError.Code?]()) { $0.append($1) }
        }
        try blocker.release()
        #expect(codes.count == 50 && codes.allSatisfy { $0 == .busy }, "\(codes)")
        #expect(try await store.stats().byStatus[.queued] == 0)
        _ = try await store.enqueue([NewTask(type: "t")])
        #expect(try await store.stats().byStatus[.queued] == 1)
    }

    /// A `COMMIT` that fails (here a deferred foreign key one write broke) fails every write of
    /// its transaction, none of which is stored: each caller's answer matches what is stored.
    @Test func aFailedCommitFailsEveryWriteOfItsTransactionAndStoresNoneOfThem() async throws {
        let store = try makeStore(in: directory)
        try await store.pool.write { db in
            try db.execute(
                sql:
                    "CREATE TABLE probe (n INTEGER, parent INTEGER REFERENCES tasks (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        }
        let answers = await withTaskGroup(of: (Int, Bool).self) { group in
            for n in 0..<40 {
                group.addTask {
                    do {
                        try await store.write { db in
                            // Write 7 points at no task: fine until its transaction commits.
                            try db.execute(
                                sql: "INSERT INTO probe (n, parent) VALUES (?, ?)",
                                arguments: [n, n == 7 ? 999_999 : nil])
                        }
                        return (n, true)
                    } catch {
                        return (n, false)
                    }
                }
            }
            return await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        let stored = try await store.pool.read { db in try Int.fetchSet(db, sql: "SELECT n FROM probe") }
        #expect(answers.count == 40)
        for (n, succeeded) in answers { #expect(succeeded == stored.contains(n), "write \(n)") }
        #expect(!stored.contains(7), "the broken write never commits")
        _ = try await store.enqueue([NewTask(type: "t")])
    }

    @Test func checkpointsRunOnTheirOwnThreadOnceTheWALReachesTheProfilesSize() async throws {
        var profile = SQLitePragmaProfile.balanced
        profile.walAutocheckpoint = 50
        let store = try makeStore(in: directory, profile: profile)
        #expect(store.groupCommit.backgroundCheckpoints == 0)
        for _ in 0..<20 {
            try await store.enqueue((0..<100).map { _ in NewTask(type: "t") })
        }
        #expect(await eventually { store.groupCommit.backgroundCheckpoints > 0 })
    }
}

@Suite("Store threads", .timeLimit(.minutes(5)))
struct StoreThreadTests {
    let directory = TemporaryDirectory()

    @Test func aReleasedStoreEndsItsWriterCheckpointerAndWatcherThreads() async throws {
        let (threads, watcher) = try await { () async throws -> (GroupCommit.Threads, CommitWatcher) in
            let store = try makeStore(in: directory)
            let watch = try #require(store.watchCommits {})
            _ = try await store.enqueue([NewTask(type: "t")])
            #expect(store.groupCommit.threads.writerRunning && store.groupCommit.threads.checkpointerRunning)
            #expect(store.commitWatcher.watching)
            watch.cancel()
            return (store.groupCommit.threads, store.commitWatcher)
        }()
        #expect(await eventually { !watcher.watching })
        #expect(await eventually { !threads.writerRunning && !threads.checkpointerRunning })
    }
}
