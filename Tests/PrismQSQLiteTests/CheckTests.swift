import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

/// What `QueueFileCheck` finds in a queue's file, and that it changes nothing.
@Suite("Queue file check", .timeLimit(.minutes(2)))
struct CheckTests {
    let directory = TemporaryDirectory()

    @Test func aHealthyQueueHasNoProblemsAndTheFiguresOfItsFile() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(batch: (0..<3).map { _ in NewTask(type: "mail") })
        _ = try await queue.claim(ClaimRequest(workerID: "w", maxTasks: 1))
        var retention = RetentionPolicy()
        retention.byType["mail"] = [.dead: nil]
        try await MaintenanceScheduler(queue: queue, retention: retention).runOnce()
        let report = try QueueFileCheck.run(path: store.path)
        #expect(report.problems.isEmpty && report.notes.isEmpty, "\(report.problems) \(report.notes)")
        #expect(report.retention?.rules == "completed=7d dead=30d cancelled=7d mail:dead=forever")
        #expect(abs(report.retention?.recordedAt.timeIntervalSinceNow ?? 99) < 60)
        #expect(report.integrity == ["ok"] && report.schemaVersion == SQLiteSchema.currentVersion)
        #expect(report.journalMode == "wal" && report.pageSize == 4096 && report.walBytes > 0)
        #expect(report.tasks[.queued] == 2 && report.tasks[.running] == 1)
        #expect(report.oldestReady?.type == "mail" && report.expiredLeases == 0)
    }

    @Test func stuckLeasesALongReadyTaskAndSilentWorkersAreReported() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(batch: [NewTask(type: "mail"), NewTask(type: "sms")])
        try await MaintenanceScheduler(queue: queue).runOnce()
        try await queue.register(WorkerRegistration(id: "gone"))
        _ = try await queue.claim(
            ClaimRequest(workerID: "gone", capabilities: ["sms"], leaseDuration: .seconds(30), maxTasks: 1))
        let later = Date().addingTimeInterval(3 * 3600)
        let report = try QueueFileCheck.run(path: store.path, now: later)
        #expect(report.expiredLeases == 1 && report.staleWorkers.map(\.id) == ["gone"])
        #expect(report.problems.count == 2, "\(report.problems)")
        #expect(report.problems.contains { $0.problem.contains("'mail' task has been ready for 3.0 h") })
        #expect(report.problems.contains { $0.advice.contains("prismq serve or a prismq worker") })
        #expect(report.notes.map(\.problem) == ["Worker gone has been silent for 3.0 h without stopping."])

        var patient = QueueCheckLimits()
        patient.readyAge = .seconds(4 * 3600)
        #expect(try QueueFileCheck.run(path: store.path, limits: patient, now: later).problems.count == 1)
        #expect(try QueueFileCheck.run(path: store.path).problems.isEmpty, "now, nothing is late")
    }

    @Test func aQueueNoMaintenanceRoundRanOnLatelyEarnsANote() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        var report = try QueueFileCheck.run(path: store.path)
        #expect(report.retention == nil && report.problems.isEmpty)
        #expect(
            report.notes.map(\.problem) == [
                "No maintenance round has run here: finished tasks are kept until one does."
            ])

        try await MaintenanceScheduler(queue: queue, retention: nil).runOnce()
        report = try QueueFileCheck.run(path: store.path, now: Date().addingTimeInterval(2 * 86400))
        #expect(report.retention?.rules == "completed=forever dead=forever cancelled=forever")
        #expect(report.notes.count == 1 && report.notes[0].problem.hasPrefix("The last maintenance round ran 48."))
        #expect(report.notes[0].advice.contains("prismq purge"))
    }

    @Test func aDamagedFileFailsTheCheckAndIsLeftAsItWas() async throws {
        let backup = directory.file("backup.db")
        try await fillAndBackUp(try makeStore(in: directory), to: backup)
        let bytes = try damageMiddlePage(of: backup)
        let report = try QueueFileCheck.run(path: backup)
        let first = try #require(report.problems.first)
        #expect(
            first.problem.contains("integrity check") || first.problem.contains("cannot read"), "\(report.problems)")
        #expect(first.advice.contains("prismq restore --from"))
        #expect(FileManager.default.contents(atPath: backup) == bytes, "the check changed nothing")
        #expect(!FileManager.default.fileExists(atPath: backup + "-wal"))

        let garbage = directory.file("garbage.db")
        FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 0x41, count: 8192))
        #expect(try QueueFileCheck.run(path: garbage).problems.first?.problem.contains("SQLite cannot read") == true)
        let foreign = directory.file("foreign.db")
        try await DatabaseQueue(path: foreign).write { db in try db.execute(sql: "CREATE TABLE notes (text TEXT)") }
        #expect(try QueueFileCheck.run(path: foreign).problems.map(\.problem) == ["\(foreign) is not a PrismQ queue."])
        #expect(throws: QueueError.self) { try QueueFileCheck.run(path: directory.file("none.db")) }
    }
}
