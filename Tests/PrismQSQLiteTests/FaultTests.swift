import Foundation
import GRDB
import PrismQ
import PrismQHarness
import Testing

@testable import PrismQSQLite

/// What a SQLite store does when its disk fails it (docs/failure-modes.md).
@Suite("SQLite store faults", .timeLimit(.minutes(2)))
struct FaultTests {
    let directory = TemporaryDirectory()

    /// A full disk, made by capping the writer connection's `max_page_count` at the file's size.
    @Test func aFullDiskFailsWritesClearlyKeepsWhatWasAcknowledgedAndRecoversWhenSpaceReturns() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        let kept = try await queue.enqueue(batch: (0..<10).map { _ in NewTask(type: "t") }).map(\.task.id)
        try await store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages + 8)")
        }
        let payload = try RawJSON(validating: "\"" + String(repeating: "x", count: 20_000) + "\"")
        var acknowledged: [Int64] = []
        var failure: QueueError?
        for _ in 0..<100 {
            do {
                acknowledged.append(try await queue.enqueue(NewTask(type: "big", payload: payload)).task.id)
            } catch {
                failure = error
                break
            }
        }
        #expect(
            failure?.code == .storage && failure?.message.contains("is full") == true, "\(String(describing: failure))")
        // Reads go on; what was acknowledged is there; the failed enqueue left nothing.
        for id in kept + acknowledged { #expect(try await queue.task(id: id).status == .queued) }
        #expect(try await queue.stats().byStatus[.queued] == kept.count + acknowledged.count)

        // Space comes back: the same store writes again, without a restart.
        try await store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1000000") }
        let after = try await queue.enqueue(NewTask(type: "big", payload: payload)).task.id
        let lease = try #require(try await queue.claim(ClaimRequest(workerID: "w", maxTasks: 1)).first)
        #expect(try await queue.complete(lease.id, result: nil).status == .completed)
        #expect(try await queue.task(id: after).status == .queued)
    }

    /// A file deleted, or replaced by another, under a running store: its writes would go into
    /// a file nobody sees again, so none is acknowledged.
    @Test(arguments: ["deleted", "replaced"])
    func writesAreRefusedOnceTheFileIsDeletedOrReplaced(_ fault: String) async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(NewTask(type: "t"))
        if fault == "deleted" {
            #expect(unlink(store.path) == 0)
        } else {
            let other = try makeStore(in: directory, name: "other.db")
            _ = try await TaskQueue(store: other).enqueue(NewTask(type: "other"))
            #expect(rename(other.path, store.path) == 0)
        }
        await #expect(throws: QueueError(.storage)) { try await queue.enqueue(NewTask(type: "t")) }
        do {
            _ = try await queue.claim(ClaimRequest(workerID: "w"))
            Issue.record("a claim was acknowledged on a \(fault) file")
        } catch {
            #expect(error.code == .storage && error.message.contains("was deleted or replaced"), "\(error)")
        }
    }

    /// The WAL removed while nothing has the file open: it holds every transaction committed
    /// since the last checkpoint, whether the processes stopped cleanly or not (a process
    /// that ends does not fold it in), so the file without it lacks them; a `truncate`
    /// checkpoint (`prismq checkpoint --mode truncate`) folds it in (docs/failure-modes.md).
    @Test func theWALHoldsCommittedTasksUntilACheckpointFoldsThemIn() async throws {
        let path = directory.file("queue.db")
        let store = try makeStore(in: directory)
        _ = try await TaskQueue(store: store).enqueue(batch: (0..<10).map { _ in NewTask(type: "t") })
        /// The tasks a copy of the file holds, with its log or without.
        func tasksInCopy(named name: String, withLog: Bool) async throws -> Int {
            let copy = directory.file(name)
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            if withLog { try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal") }
            let database = try DatabaseQueue(path: copy)
            defer { try? database.close() }
            return try await database.read { db in
                try db.tableExists("tasks") ? Int.fetchOne(db, sql: "SELECT count(*) FROM tasks") ?? 0 : 0
            }
        }
        #expect(try await tasksInCopy(named: "with-log.db", withLog: true) == 10)
        #expect(try await tasksInCopy(named: "without-log.db", withLog: false) == 0, "the log held them all")
        let report = try await store.checkpoint(.truncate)
        #expect(!report.blocked && report.walBytesAfter == 0, "\(report)")
        #expect(try await tasksInCopy(named: "folded.db", withLog: false) == 10, "folded into the file")
    }
}
