import Foundation
import PrismQ
import PrismQHarness
import PrismQPostgres
import PrismQSQLite
import Testing

/// `prismq migrate`: a queue copied from SQLite to PostgreSQL and back, field for field, and
/// resumed after a `kill -9`; `prismq export` and `import` between the same stores.
@Suite(
    "prismq migrate", .timeLimit(.minutes(10)), .enabled(if: testPostgresURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct MigrateTests {
    let cli = CLIRunner()

    /// The test server's URL with a fresh schema.
    func postgresURL() throws -> String {
        try #require(testPostgresURL) + "?sslmode=disable&schema=migrate_"
            + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// Every task, with its history, in id order.
    func everything(_ queue: TaskQueue) async throws -> [TaskRecord] {
        var records: [TaskRecord] = []
        while true {
            let batch = try await queue.exportTasks(after: records.last?.task.id ?? 0, limit: 1000)
            if batch.isEmpty { return records }
            records += batch
        }
    }

    /// The history without the entries' own ids (a copy numbers them afresh).
    func histories(_ records: [TaskRecord]) -> [[String]] {
        records.map { record in
            record.logs.map {
                "\($0.taskID) \($0.event) \($0.at.timeIntervalSince1970) \($0.workerID ?? "-") \($0.message ?? "-")"
            }
        }
    }

    /// A SQLite queue at `path` with tasks in every state, a payload and a result spelled
    /// unusually, an idempotency key, a timeout and three workers; its records.
    func queueInEveryState(at path: String) async throws -> (TaskQueue, [TaskRecord]) {
        let source = TaskQueue(store: try SQLiteStore(path: path))
        _ = try await source.enqueue(NewTask(type: "plain", payload: try RawJSON(validating: #"{"a": [1, 2.50]}"#)))
        _ = try await source.enqueue(NewTask(type: "keyed", priority: 7, idempotencyKey: "k-1", timeout: .seconds(9)))
        _ = try await source.enqueue(NewTask(type: "later", delay: .seconds(3600)))
        for type in ["done", "broken", "gone", "held"] {
            _ = try await source.enqueue(NewTask(type: type, maxAttempts: 1))
        }
        let claim = { (type: String) in
            try await source.claim(
                ClaimRequest(workerID: "w-\(type)", capabilities: [type], leaseDuration: .seconds(600), maxTasks: 1))[0]
        }
        _ = try await source.complete(try await claim("done").id, result: try RawJSON(validating: #"{"ok" : true}"#))
        _ = try await source.fail(try await claim("broken").id, error: "it broke", retryable: true)
        _ = try await source.cancel(id: try await source.enqueue(NewTask(type: "gone")).task.id)
        let held = try await claim("held")
        _ = try await source.cancel(id: held.task.id)  // running, cancellation requested
        let original = try await everything(source)
        #expect(original.count == 8)
        return (source, original)
    }

    @Test func aQueueInEveryStateGoesToPostgresAndBackUnchanged() async throws {
        let sqlite = cli.directory + "/source.db"
        let (_, original) = try await queueInEveryState(at: sqlite)
        let postgres = try postgresURL()
        let there = try await cli.run(["migrate", "--from", sqlite, "--to", postgres])
        #expect(there.status == 0, "\(there.stderr)")
        #expect(there.stdout.contains("Copied 8 tasks (0 were there already) and 3 workers"), "\(there.stdout)")
        #expect(!there.stdout.contains(try #require(URLComponents(string: postgres)?.password)))
        let store = try await PostgresStore(url: postgres)
        defer { store.close() }
        let copy = TaskQueue(store: store)
        let copied = try await everything(copy)
        #expect(copied.map(\.task) == original.map(\.task), "every field of every task")
        #expect(histories(copied) == histories(original))
        #expect(try await copy.workers().map(\.id).sorted() == ["w-broken", "w-done", "w-held"])

        // Enqueued after the copy: a new id, and the idempotency key still names its task.
        let fresh = try await copy.enqueue(NewTask(type: "new")).task
        #expect(fresh.id > original.map(\.task.id).max()!)
        #expect(try await copy.enqueue(NewTask(type: "keyed", idempotencyKey: "k-1")).created == false)

        let again = try await cli.run(["migrate", "--from", sqlite, "--to", postgres])
        #expect(again.status != 0 && again.stderr.contains("does not match"), "the destination has a task more")

        let back = cli.directory + "/back.db"
        let returned = try await cli.run(["migrate", "--from", postgres, "--to", "sqlite://" + back])
        #expect(returned.status == 0, "\(returned.stderr)")
        let roundTrip = try await everything(TaskQueue(store: try SQLiteStore(path: back)))
        #expect(roundTrip.dropLast().map(\.task) == original.map(\.task))
        #expect(histories(Array(roundTrip.dropLast())) == histories(original))
    }

    @Test func anExportImportedIntoPostgresExportsAgainByteForByte() async throws {
        let sqlite = cli.directory + "/source.db"
        let (_, original) = try await queueInEveryState(at: sqlite)
        let file = cli.directory + "/queue.jsonl"
        let exported = try await cli.run(["export", "--db", sqlite, "--to", file])
        #expect(exported.status == 0 && exported.stdout.contains("Exported 8 tasks and 3 workers"), "\(exported)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the export is owner-only")

        let postgres = try postgresURL()
        let imported = try await cli.run(["import", "--db", postgres, "--from", file, "--batch", "3"])
        #expect(imported.stdout.contains("Imported 8 tasks (0 were there already) and 3 workers"), "\(imported)")
        let store = try await PostgresStore(url: postgres)
        defer { store.close() }
        let copied = try await everything(TaskQueue(store: store))
        #expect(copied.map(\.task) == original.map(\.task), "every field of every task, payloads byte for byte")
        #expect(histories(copied) == histories(original))
        let again = try await cli.run(["export", "--db", postgres])
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(again.status == 0 && again.stdout == written, "the same lines, byte for byte")

        let rerun = try await cli.run(["import", "--db", postgres, "--from", file])
        #expect(rerun.stdout.contains("Imported 0 tasks (8 were there already)"), "\(rerun)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let broken = cli.directory + "/broken.jsonl"
        try ([lines[0], lines[1], "{\"kind\":\"task\",\"id\":\"x\"}"] + lines[2...]).joined(separator: "\n")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try await cli.run(["import", "--db", cli.directory + "/new.db", "--from", broken])
        #expect(refused.status == 1 && refused.stderr.contains("broken.jsonl, line 3: not a task"), "\(refused)")
    }

    @Test func aCopyKilledMidwayResumesWithoutDuplicatesOrGaps() async throws {
        let sqlite = cli.directory + "/big.db"
        let source = TaskQueue(store: try SQLiteStore(path: sqlite))
        for _ in 0..<5 {
            _ = try await source.enqueue(
                batch: (0..<1000).map { NewTask(type: "t", payload: try! RawJSON(validating: "\($0)")) })
        }
        let postgres = try postgresURL()
        let first = try cli.start(["migrate", "--from", sqlite, "--to", postgres, "--batch", "25"])
        // The schema exists once the copy has begun.
        var target: PostgresStore?
        let midway = try await eventually(timeout: .seconds(120), every: .milliseconds(50)) {
            if target == nil { target = try? await PostgresStore(url: postgres) }
            guard let target else { return false }
            let copied = try await TaskQueue(store: target).stats().byStatus.values.reduce(0, +)
            return copied >= 500
        }
        kill(first.process.processIdentifier, SIGKILL)
        #expect(await first.wait().status == SIGKILL)
        #expect(midway)
        let store = try #require(target)
        defer { store.close() }
        let partial = try await TaskQueue(store: store).stats().byStatus.values.reduce(0, +)
        #expect(partial < 5_000, "killed before the end (\(partial) copied)")

        let rerun = try await cli.run(["migrate", "--from", sqlite, "--to", postgres, "--batch", "500"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(
            rerun.stdout.contains("Copied \(5_000 - partial) tasks (\(partial) were there already)"), "\(rerun.stdout)")
        let copied = try await everything(TaskQueue(store: store))
        #expect(copied.count == 5_000 && Set(copied.map(\.task.id)).count == 5_000)
        #expect(copied.map(\.task) == (try await everything(source)).map(\.task))
    }

    @Test func badLocationsAreRefusedBeforeAnythingIsCopied() async throws {
        let missing = try await cli.run(["migrate", "--from", cli.directory + "/none.db", "--to", try postgresURL()])
        #expect(missing.status == 1 && missing.stderr.contains("There is no queue database"), "\(missing.stderr)")
        let same = try await cli.run(["migrate", "--from", cli.database, "--to", "sqlite://" + cli.database])
        #expect(same.status == 1 && same.stderr.contains("name the same queue"), "\(same.stderr)")
        let remote = try await cli.run(["migrate", "--from", cli.database, "--to", "http://127.0.0.1:9"])
        #expect(remote.status == 1 && remote.stderr.contains("not servers"), "\(remote.stderr)")
    }
}

/// The server `scripts/with-postgres` started for `./scripts/test`.
let testPostgresURL = ProcessInfo.processInfo.environment["PRISMQ_TEST_POSTGRES_URL"]
