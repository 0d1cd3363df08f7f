import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

/// What only SQLite shows; the behaviour every store shares is in `ConformanceTests`.
@Suite("SQLite store specifics", .timeLimit(.minutes(5)))
struct StoreTests {
    let directory = TemporaryDirectory()

    @Test func aBatchIsAllOrNothingEvenWhenTheDatabaseRefusesOneRow() async throws {
        let store = try makeStore(in: directory)
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
        let idle = store.statistics
        #expect(idle.inUse == 0 && idle.waiting == 0, "nothing runs or waits once the calls ended")
        #expect((2...9).contains(idle.openConnections), "the writer and the readers opened: \(idle.openConnections)")
    }

    @Test func aReadOnTheCallingThreadIsTakenOnlyWhileAReaderIsSurelyFree() {
        let recorder = PoolStatisticsRecorder(maxReaders: 2)
        #expect(recorder.beginReadWithoutWaiting())
        recorder.beginRead()
        #expect(!recorder.beginReadWithoutWaiting(), "both readers are counted: the read must not wait here")
        recorder.beginRead()
        #expect(!recorder.beginReadWithoutWaiting())
        recorder.endRead()
        recorder.endRead()
        #expect(recorder.beginReadWithoutWaiting())
        #expect(recorder.snapshot.reads == 4 && recorder.snapshot.inUse == 2 && recorder.snapshot.waits == 1)
    }
}
