import Foundation
import GRDB
import PrismQ
import PrismQHarness
import Testing

@testable import PrismQSQLite

@Suite("SQLite database: PRAGMAs, indexes, schema and faults", .timeLimit(.minutes(5)))
struct DatabaseTests {
    let directory = TemporaryDirectory()

    @Test(arguments: SQLitePragmaProfile.all)
    func everyConnectionReadsBackItsProfile(profile: SQLitePragmaProfile) async throws {
        let store = try makeStore(in: directory, profile: profile)
        @Sendable func check(_ db: Database, writer: Bool) throws {
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try Int.fetchOne(db, sql: "PRAGMA synchronous") == profile.synchronous.rawValue)
            #expect(
                try Int.fetchOne(db, sql: "PRAGMA busy_timeout")
                    == Int(profile.busyTimeout.components.seconds * 1000)
            )
            // The writer's checkpoints are the Checkpointer's: SQLite's own read back as 0.
            #expect(try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") == (writer ? 0 : profile.walAutocheckpoint))
            #expect(try Int.fetchOne(db, sql: "PRAGMA cache_size") == profile.cacheSize)
            #expect(try Int.fetchOne(db, sql: "PRAGMA temp_store") == profile.tempStore)
            #expect(try Int.fetchOne(db, sql: "PRAGMA mmap_size") == profile.mmapSize)
            #expect(try Int.fetchOne(db, sql: "PRAGMA foreign_keys") == 1)
        }
        try await store.pool.write { db in try check(db, writer: true) }
        try await store.pool.read { db in try check(db, writer: false) }
    }

    @Test func theBalancedProfileIsTheDefaultTheIssueAsksFor() throws {
        let balanced = SQLiteConfiguration().profile
        #expect(balanced == .balanced && balanced.synchronous == .normal && balanced.busyTimeout == .seconds(5))
        #expect(balanced.walAutocheckpoint == 1000 && balanced.cacheSize == -20000 && balanced.tempStore == 2)
        #expect(balanced.mmapSize == 128 * 1024 * 1024 && SQLitePragmaProfile.durable.synchronous == .full)
        #expect(throws: QueueError(.invalidArgument)) { try SQLitePragmaProfile.named("turbo") }
        #expect(try SQLitePragmaProfile.named("Durable") == .durable)
    }

    /// Every statement the store runs against `tasks` or `task_logs` reads an index, never the
    /// whole table.
    @Test func everyQueryUsesAnIndex() async throws {
        let store = try makeStore(in: directory)
        try await store.prepare(for: .weightedRandom)
        var statements: [(String, StatementArguments)] = [
            (StoreSQL.taskByID, [1]),
            (StoreSQL.taskByIdempotencyKey, ["k"]),
            (StoreSQL.logsOfTask, [1]),
            (StoreSQL.countsByTypeAndStatus, []),
            (StoreSQL.oldestReady, [0]),
            (StoreSQL.completedSince, [0]),
            (StoreSQL.failedAttemptsSince, [0]),
            (StoreSQL.failedPerMinute, [0]),
            (ClaimSQL.queuedTypes, []),
            (ClaimSQL.nextReadyAnyType, []),
            (ClaimSQL.nextReady(typeCount: 2), ["a", "b"]),
            (LeaseSQL.holder, [1, 1]),
            (LeaseSQL.expired, [0, 10]),
            (LeaseSQL.holders, ["[[1,2],[3,4]]"]),
            (LeaseSQL.completeAll, [0, "[[1,null],[3,\"{}\"]]"]),
            (LeaseSQL.logCompletions, [0, "[1,3]"]),
            (ClaimSQL.take, ["w", 0, 1, 2, "[1,3]"]),
            (ClaimSQL.tasksByIDs, ["[1,3]"]),
            (ClaimSQL.logClaims, [0, "w", "[1,3]"]),
        ]
        for strategy in SchedulingStrategy.allCases {
            statements.append((ClaimSQL.namedTypes(strategy, typeCount: 2), [0, 5, "a", "b"]))
            if strategy == .fifo || strategy == .lifo {
                statements.append((ClaimSQL.anyType(strategy), [0, 5]))
            }
        }
        for filter in [
            TaskFilter(), TaskFilter(status: .queued), TaskFilter(type: "t"), TaskFilter(status: .dead, type: "t"),
        ] {
            for cursor in [nil, PageCursor(lastID: 10)] {
                statements.append(SQLiteStore.listQuery(filter, PageRequest(limit: 10, cursor: cursor)))
            }
        }
        let planned = statements
        try await store.pool.read { db in
            for (sql, arguments) in planned {
                let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                    .map { $0["detail"] as String }
                let scans = plan.filter {
                    ($0.hasPrefix("SCAN tasks") || $0.hasPrefix("SCAN task_logs")) && !$0.contains("INDEX")
                }
                #expect(scans.isEmpty, "\(sql) → \(plan)")
                #expect(
                    !plan.contains {
                        $0.contains("TEMP B-TREE") && !sql.contains("UNION ALL") && !sql.contains("RECURSIVE")
                    },
                    "\(sql) → \(plan)"
                )
            }
        }
    }

    @Test func aDirectoryThatCannotBeCreatedIsAClearError() throws {
        let blocker = directory.file("plain-file")
        _ = FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8))
        let path = blocker + "/sub/queue.db"
        let error = #expect(throws: QueueError.self) { try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.message.contains(blocker) == true)
    }

    @Test func missingDirectoriesAreCreated() async throws {
        let path = directory.file("a/b/c/queue.db")
        let store = try SQLiteStore(path: path)
        _ = try await store.enqueue([NewTask(type: "t")])
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func aFileThatIsNotSQLiteIsAClearErrorAndIsLeftAlone() throws {
        let path = directory.file("notes.txt")
        let text = String(repeating: "not a database\n", count: 200)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        let error = #expect(throws: QueueError.self) { try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("not a PrismQ SQLite database") == true)
        #expect(String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self) == text)
    }

    /// Another application's SQLite file, in rollback-journal mode, with or without a schema
    /// version of its own, is refused before anything writes to it; a SQLite file with no
    /// schema yet (a first open that stopped after switching to WAL) still becomes a queue.
    @Test func anotherApplicationsDatabaseIsRefusedAndLeftUnchanged() async throws {
        for userVersion in [0, 7] {
            let path = directory.file("other-app-\(userVersion).db")
            let other = try DatabaseQueue(path: path)
            try other.inDatabase { db in
                try db.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
                try db.execute(sql: "INSERT INTO notes (text) VALUES ('keep me')")
                try db.execute(sql: "PRAGMA user_version = \(userVersion)")
            }
            try other.close()
            let before = try #require(FileManager.default.contents(atPath: path))

            let error = #expect(throws: QueueError.self) { try SQLiteStore(path: path) }
            #expect(error?.code == .storage)
            #expect(error?.message.contains("The file \(path) is not a PrismQ queue") == true)

            #expect(FileManager.default.contents(atPath: path) == before, "not a byte changed")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
            #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
            var readOnly = Configuration()
            readOnly.readonly = true
            let reader = try DatabaseQueue(path: path, configuration: readOnly)
            #expect(try reader.inDatabase { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "delete")
            #expect(
                try reader.inDatabase { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master") } == ["notes"])
        }

        let path = directory.file("started.db")
        let started = try DatabaseQueue(path: path)
        try started.inDatabase { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
        try started.close()
        #expect(try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) > 0)
        _ = try await SQLiteStore(path: path).enqueue([NewTask(type: "t")])
        #expect(try await SQLiteStore(path: path).stats().byStatus[.queued] == 1)
    }

    /// New files and directories are the owner's only, whatever the umask; existing files keep
    /// their mode.
    @Test func newFilesAndDirectoriesAreTheOwnersOnly() async throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        let path = directory.file("data/prismq/queue.db")
        let store = try SQLiteStore(path: path)
        _ = try await store.enqueue([NewTask(type: "t")])
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(try mode(file) == 0o600, "\(file)")
        }
        #expect(try mode(directory.file("data")) == 0o700)
        #expect(try mode(directory.file("data/prismq")) == 0o700)

        let shared = directory.file("shared.db")
        _ = FileManager.default.createFile(atPath: shared, contents: nil, attributes: [.posixPermissions: 0o640])
        _ = try await SQLiteStore(path: shared).enqueue([NewTask(type: "t")])
        #expect(try mode(shared) == 0o640, "an existing file keeps its mode")
    }

    @Test func aReadOnlyFileIsAClearError() async throws {
        let path = directory.file("queue.db")
        _ = try await SQLiteStore(path: path).enqueue([NewTask(type: "t")])
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        let error = #expect(throws: QueueError.self) { try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.message.contains("\(path) is read-only") == true)
    }

    @Test func aVersionOneDatabaseGetsThePartialFailureIndexAndKeepsItsHistory() async throws {
        let path = directory.file("v1.db")
        try ShippedSchema.File.version1.make(at: path) { db in
            try db.execute(
                sql: """
                    INSERT INTO tasks (type, payload, status, created_at, run_after) VALUES ('t', '{}', 'dead', 0, 0);
                    INSERT INTO task_logs (task_id, event, at) VALUES (1, 'failed', ?);
                    """, arguments: [Int64(Date().timeIntervalSince1970 * 1000)])
        }
        let store = try SQLiteStore(path: path)
        let indexes = try await store.pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE tbl_name = 'task_logs' AND type = 'index'")
        }
        #expect(Set(indexes) == ["task_logs_by_task", "task_logs_failures"])
        #expect(
            try await store.pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
                == SQLiteSchema.currentVersion)
        #expect(try await store.throughput(minutes: 5).map(\.failed).reduce(0, +) == 1)
        #expect(try await store.stats().failedLastMinute == 1)
    }

    @Test func aNewerSchemaIsRefusedAndOlderOnesAreMigratedOnce() async throws {
        let path = directory.file("queue.db")
        do {
            let store = try SQLiteStore(path: path)
            #expect(
                try await store.pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
                    == SQLiteSchema.currentVersion)
            _ = try await store.enqueue([NewTask(type: "t")])
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.stats().byStatus[.queued] == 1, "reopening keeps the data")
        try await reopened.pool.write { try $0.execute(sql: "PRAGMA user_version = 99") }
        let error = #expect(throws: QueueError.self) { try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.message.contains("schema version 99") == true)
        #expect(error?.message.contains(path) == true)
    }

    @Test func severalStoresOpeningANewFileAtOnceMigrateItOnce() async throws {
        let path = directory.file("race.db")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { _ = try await SQLiteStore(path: path).enqueue([NewTask(type: "t")]) }
            }
            try await group.waitForAll()
        }
        #expect(try await SQLiteStore(path: path).stats().byStatus[.queued] == 8)
    }

    @Test func busyOnlyReachesTheCallerWhenTheTimeoutRunsOut() async throws {
        let path = directory.file("queue.db")
        var quick = SQLiteConfiguration()
        quick.profile.busyTimeout = .milliseconds(200)
        let store = try SQLiteStore(path: path, configuration: quick)
        let patient = try SQLiteStore(path: path)
        let blocker = try SQLiteWriteLock(path: path)

        let error = await #expect(throws: QueueError.self) { try await store.enqueue([NewTask(type: "t")]) }
        #expect(error?.code == .busy)
        #expect(store.statistics.errors == 1)

        let waiting = Task { try await patient.enqueue([NewTask(type: "t")]) }
        try await Task.sleep(for: .milliseconds(300))
        try blocker.release()
        #expect(try await waiting.value.count == 1, "a lock held for less than the timeout is waited out")
        #expect(try await patient.stats().byStatus[.queued] == 1, "the timed-out enqueue stored nothing")
    }

    @Test func invalidPoolSizesAreRejected() {
        var configuration = SQLiteConfiguration()
        configuration.maxReaders = 0
        #expect(throws: QueueError(.invalidArgument)) {
            try SQLiteStore(path: directory.file("q.db"), configuration: configuration)
        }
    }
}
