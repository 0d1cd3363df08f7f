import Foundation
import GRDB
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@testable import PrismQSQLite

/// Online backups of a SQLite queue, restores, and the backup scheduler's rotation.
@Suite("Backup and restore", .timeLimit(.minutes(3)))
struct BackupTests {
    let directory = TemporaryDirectory()

    /// What the load running beside a backup has done.
    struct Load {
        /// Tasks whose enqueue was acknowledged, and whether each began after the backup's
        /// first step.
        var acknowledged: [(id: Int64, afterFirstStep: Bool)] = []
        var completed: Set<Int64> = []
    }

    /// The load's record, and the flags the test and the load share.
    final class LoadState: Sendable {
        let load = Locked(Load())
        let firstStepSeen = Atomic(false)
        let stop = Atomic(false)
        let steps = Locked<[CopyProgress]>([])
    }

    @Test func aBackupUnderLoadIsTheSnapshotOfItsStartAndWritersGoOnMeanwhile() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        let payload = try RawJSON(validating: "\"" + String(repeating: "x", count: 1500) + "\"")
        for _ in 0..<4 {
            _ = try await queue.enqueue(batch: (0..<500).map { _ in NewTask(type: "seed", payload: payload) })
        }
        let state = LoadState()
        let producer = Task {
            while !state.stop.load(ordering: .relaxed) {
                let after = state.firstStepSeen.load(ordering: .acquiring)
                let id = try await queue.enqueue(NewTask(type: "live", payload: payload)).task.id
                state.load.withLock { $0.acknowledged.append((id, after)) }
            }
        }
        let worker = Task {
            while !state.stop.load(ordering: .relaxed) {
                for lease in try await queue.claim(ClaimRequest(workerID: "w", capabilities: ["live"], maxTasks: 4)) {
                    _ = try await queue.complete(lease.id, result: nil)
                    state.load.withLock { _ = $0.completed.insert(lease.task.id) }
                }
            }
        }
        #expect(await eventually { state.load.withLock { $0.completed.count >= 20 } })
        let before = state.load.withLock { $0 }

        let backupPath = directory.file("backups/one.db")
        let summary = try await store.backup(to: backupPath, pagesPerStep: 16) { step in
            let first = state.steps.withLock { steps in
                steps.append(step)
                return steps.count == 1
            }
            guard first else { return }
            // The backup holds its snapshot here: writers must go on regardless.
            let acknowledged = state.load.withLock { $0.acknowledged.count }
            state.firstStepSeen.store(true, ordering: .releasing)
            let deadline = ContinuousClock.now + .seconds(60)
            while state.load.withLock({ $0.acknowledged.count }) < acknowledged + 20, ContinuousClock.now < deadline {
                usleep(1000)
            }
        }
        state.stop.store(true, ordering: .relaxed)
        try await producer.value
        try await worker.value
        let after = state.load.withLock { $0 }

        let recorded = state.steps.withLock { $0 }
        #expect(recorded.count > 10 && recorded.last?.copiedPages == recorded.last?.totalPages, "\(recorded.count)")
        let duringBackup = after.acknowledged.filter(\.afterFirstStep).map(\.id)
        #expect(duringBackup.count >= 20, "enqueues were acknowledged while the backup held its snapshot")
        #expect(summary.schemaVersion == SQLiteSchema.currentVersion && summary.bytes > 3_000_000)
        let attributes = try FileManager.default.attributesOfItem(atPath: backupPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("backups")) == ["one.db"])

        let copy = try DatabaseQueue(path: backupPath)
        let (ids, completed, integrity, mode) = try await copy.read { db in
            (
                Set(try Int64.fetchAll(db, sql: "SELECT id FROM tasks")),
                Set(try Int64.fetchAll(db, sql: "SELECT id FROM tasks WHERE status = 'completed'")),
                try String.fetchAll(db, sql: "PRAGMA integrity_check"),
                try String.fetchOne(db, sql: "PRAGMA journal_mode")
            )
        }
        #expect(integrity == ["ok"] && mode == "delete")
        #expect(summary.tasks == ids.count)
        #expect(before.acknowledged.allSatisfy { ids.contains($0.id) }, "every task acknowledged before is kept")
        #expect(before.completed.isSubset(of: completed), "and so is every completion")
        #expect(duringBackup.allSatisfy { !ids.contains($0) }, "nothing begun after the snapshot is in it")

        // The backup opens as a queue and works as one.
        let restored = TaskQueue(store: try SQLiteStore(path: backupPath))
        #expect(try await restored.stats().byStatus.values.reduce(0, +) == ids.count)
        _ = try await restored.enqueue(NewTask(type: "after"))
    }

    @Test func aBackupNeverOverwritesTheQueueOrAnExistingFileUnlessAsked() async throws {
        let store = try makeStore(in: directory)
        _ = try await TaskQueue(store: store).enqueue(NewTask(type: "t"))
        await #expect(throws: QueueError.self) { try await store.backup(to: store.path) }
        let existing = directory.file("existing.db")
        FileManager.default.createFile(atPath: existing, contents: Data("keep me".utf8))
        do {
            _ = try await store.backup(to: existing)
            Issue.record("an existing file was replaced without being asked")
        } catch {
            #expect(error.code == .invalidArgument && error.message.contains("--replace"), "\(error)")
        }
        #expect(FileManager.default.contents(atPath: existing) == Data("keep me".utf8))
        #expect(try await store.backup(to: existing, replacing: true).tasks == 1)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == [
                "existing.db", "queue.db", "queue.db-shm", "queue.db-wal",
            ])
    }

    @Test func aRestoreChecksTheBackupFirstAndKeepsTheFileItReplaces() async throws {
        let path = directory.file("queue.db")
        let backup = directory.file("backup.db")
        do {
            let queue = TaskQueue(store: try makeStore(in: directory))
            _ = try await queue.enqueue(batch: (0..<30).map { _ in NewTask(type: "early") })
            _ = try await (queue.store as! SQLiteStore).backup(to: backup)
            _ = try await queue.enqueue(batch: (0..<12).map { _ in NewTask(type: "late") })
        }
        // A backup with a page overwritten is refused, and nothing changes.
        let damaged = directory.file("damaged.db")
        var bytes = try #require(FileManager.default.contents(atPath: backup))
        let pageSize = 4096
        bytes.replaceSubrange(
            (bytes.count - 2 * pageSize)..<(bytes.count - pageSize), with: Data(repeating: 0xA5, count: pageSize))
        FileManager.default.createFile(atPath: damaged, contents: bytes)
        do {
            _ = try SQLiteRestore.restore(from: damaged, to: path)
            Issue.record("a damaged backup was restored")
        } catch {
            #expect(error.code == .storage && error.message.contains(damaged), "\(error)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(!files.contains { $0.contains(".tmp-") || $0.contains(".replaced-") }, "\(files)")

        let report = try await restoreOnceClosed(from: backup, to: path)
        #expect(report.restored.tasks == 30 && report.replacedTasks == 42)
        let kept = try #require(report.replacedKeptAt)
        #expect(kept.hasPrefix(path + ".replaced-") && FileManager.default.fileExists(atPath: kept))
        let restored = TaskQueue(store: try SQLiteStore(path: path))
        #expect(try await restored.stats().byStatus[.queued] == 30)
        let keptQueue = TaskQueue(store: try SQLiteStore(path: kept))
        #expect(try await keptQueue.stats().byStatus[.queued] == 42, "the replaced file is whole")
    }

    @Test func aRestoreRefusesAQueueAnotherConnectionHasOpenAndAForeignDatabase() async throws {
        let backup = directory.file("backup.db")
        let store = try makeStore(in: directory)
        _ = try await TaskQueue(store: store).enqueue(NewTask(type: "t"))
        _ = try await store.backup(to: backup)
        do {
            _ = try SQLiteRestore.restore(from: backup, to: store.path)
            Issue.record("a queue in use was replaced")
        } catch {
            #expect(error.code == .busy && error.message.contains("open"), "\(error)")
        }
        #expect(try await TaskQueue(store: store).enqueue(NewTask(type: "t")).created, "the queue still works")

        let foreign = directory.file("foreign.db")
        let other = try DatabaseQueue(path: foreign)
        try await other.write { db in try db.execute(sql: "CREATE TABLE notes (text TEXT)") }
        try other.close()
        #expect(throws: QueueError.self) { try SQLiteRestore.restore(from: backup, to: foreign) }
        #expect(try await DatabaseQueue(path: foreign).read { db in try db.tableExists("notes") })
        #expect(throws: QueueError.self) { try SQLiteRestore.restore(from: foreign, to: directory.file("new.db")) }
        #expect(!FileManager.default.fileExists(atPath: directory.file("new.db")))
    }

    @Test func theSchedulerKeepsTheNewestBackupsAndLeavesOtherFilesAlone() async throws {
        let store = try makeStore(in: directory)
        _ = try await TaskQueue(store: store).enqueue(NewTask(type: "t"))
        let folder = directory.file("backups")
        let scheduler = BackupScheduler(store: store, directory: folder, interval: .seconds(3600), keep: 2)
        var written: [String] = []
        for _ in 0..<4 {
            written.append(try await scheduler.runOnce().path)
        }
        FileManager.default.createFile(atPath: folder + "/notes.txt", contents: Data())
        let unfinished = folder + "/queue-20261203T000000000Z.db.tmp-1-2"
        FileManager.default.createFile(atPath: unfinished, contents: Data("half".utf8))
        scheduler.removeUnfinished()
        #expect(!FileManager.default.fileExists(atPath: unfinished))
        #expect(Set(written).count == 4 && scheduler.backups == Array(written.suffix(2)))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
                == (written.suffix(2).map { URL(fileURLWithPath: $0).lastPathComponent } + ["notes.txt"]).sorted())
        let attributes = try FileManager.default.attributesOfItem(atPath: folder)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
    }

    @Test func aBackupOfTheFileNeitherMigratesNorChangesItAndNeverOverwritesItsLogs() async throws {
        let path = directory.file("old.db")
        try ShippedSchema.File.version3.make(at: path)
        let before = try #require(FileManager.default.contents(atPath: path))
        let summary = try await SQLiteBackup.backup(path: path, to: directory.file("old-backup.db"))
        #expect(summary.schemaVersion == 3, "the backup is of the file as it is")
        #expect(FileManager.default.contents(atPath: path) == before, "and the file did not change")

        let store = try makeStore(in: directory)
        for target in [store.path + "-wal", store.path + "-shm", directory.file("link.db")] {
            if target.hasSuffix("link.db") { #expect(link(store.path, target) == 0) }
            do {
                _ = try await SQLiteBackup.backup(path: store.path, to: target, replacing: true)
                Issue.record("\(target) was overwritten")
            } catch {
                #expect(error.code == .invalidArgument && error.message.contains("overwrite the queue itself"))
            }
        }
    }

    @Test func aRestoreKeepsTheFilesOwnerAndModeAndRefusesALogWithoutItsDatabase() async throws {
        let backup = directory.file("backup.db")
        let path = directory.file("queue.db")
        do {
            let store = try makeStore(in: directory)
            _ = try await TaskQueue(store: store).enqueue(NewTask(type: "t"))
            _ = try await store.backup(to: backup)
        }
        #expect(chmod(path, 0o640) == 0)
        let report = try await restoreOnceClosed(from: backup, to: path)
        #expect(report.replacedTasks == 1 && report.restored.tasks == 1)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o640, "restored in place: the file keeps its mode")
        let keptMode =
            try FileManager.default.attributesOfItem(atPath: try #require(report.replacedKeptAt))[
                .posixPermissions] as? NSNumber
        #expect(keptMode?.intValue == 0o600)

        let fresh = directory.file("fresh.db")
        FileManager.default.createFile(atPath: fresh + "-journal", contents: Data(repeating: 1, count: 512))
        do {
            _ = try SQLiteRestore.restore(from: backup, to: fresh)
            Issue.record("a journal without its database was left to be applied")
        } catch {
            #expect(error.code == .storage && error.message.contains("-journal exists without its database"))
        }
        #expect(!FileManager.default.fileExists(atPath: fresh))
        #expect(try SQLiteRestore.restore(from: backup, to: directory.file("new.db")).replacedKeptAt == nil)
    }

    @Test func aDamagedQueueIsRestoredAndKeptForForensics() async throws {
        let backup = directory.file("backup.db")
        let path = directory.file("queue.db")
        try await fillAndBackUp(try makeStore(in: directory), to: backup)
        try await waitUntilClosed(path)
        let damaged = try damageMiddlePage(of: path)
        #expect(try QueueFileCheck.run(path: path).problems.isEmpty == false, "the queue is damaged")

        let report = try await restoreOnceClosed(from: backup, to: path)
        #expect(report.restored.tasks == 200)
        #expect(try QueueFileCheck.run(path: path).problems.isEmpty, "the restored queue is whole")
        let kept = try #require(report.replacedKeptAt)
        let keptBytes = try #require(FileManager.default.contents(atPath: kept))
        // Page by page as it was (the header of page 1 carries SQLite's own counters).
        #expect(keptBytes.dropFirst(100) == damaged.dropFirst(100), "the damaged file is kept as it was")
        #expect(try await TaskQueue(store: try SQLiteStore(path: path)).stats().byStatus[.queued] == 200)
    }

    @Test func aFileThatIsNoDatabaseAtAllIsMovedAsideWhole() async throws {
        let backup = directory.file("backup.db")
        let path = directory.file("garbage.db")
        try await fillAndBackUp(try makeStore(in: directory), to: backup)
        let garbage = Data(repeating: 0x41, count: 8192)
        FileManager.default.createFile(atPath: path, contents: garbage)
        let report = try SQLiteRestore.restore(from: backup, to: path)
        #expect(report.replacedTasks == nil && report.restored.tasks == 200)
        #expect(FileManager.default.contents(atPath: try #require(report.replacedKeptAt)) == garbage)
        #expect(try QueueFileCheck.run(path: path).problems.isEmpty)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!files.contains { $0.contains(".tmp-") }, "\(files)")
    }
}
