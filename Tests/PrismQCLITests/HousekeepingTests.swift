import Foundation
import PrismQ
import PrismQHarness
import PrismQSQLite
import Testing

/// `prismq checkpoint`, `prismq vacuum` and `prismq check` on a SQLite queue.
@Suite("prismq checkpoint, vacuum and check", .timeLimit(.minutes(5)))
struct HousekeepingTests {
    let cli = CLIRunner()

    func object(_ output: CLIRunner.Output) throws -> [String: Any] {
        #expect(output.status == 0, "\(output.stderr)")
        return try CLIRunner.object(output.stdout)
    }

    @Test func aTruncatingCheckpointEmptiesTheLogWhileAnotherProcessHasTheQueueOpen() async throws {
        // This process keeps the queue open, so its writes stay in the log.
        let store = try SQLiteStore(path: cli.database)
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(batch: (0..<200).map { _ in NewTask(type: "t", payload: .null) })
        let log = cli.database + "-wal"
        let before = try #require(try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int)

        let passive = try object(try await cli.onDatabase("checkpoint", "--json"))
        #expect(passive["mode"] as? String == "passive" && passive["blocked"] as? Bool == false)
        let frames = try #require(passive["wal_frames"] as? Int)
        #expect(frames > 0 && passive["checkpointed_frames"] as? Int == frames, "\(passive)")
        #expect(passive["wal_bytes_before"] as? Int == before && passive["wal_bytes_after"] as? Int == before)

        let truncate = try object(try await cli.onDatabase("checkpoint", "--mode", "truncate", "--json"))
        #expect(truncate["blocked"] as? Bool == false && truncate["wal_bytes_after"] as? Int == 0, "\(truncate)")
        #expect(try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int == 0)
        #expect(try await queue.stats().byStatus[.queued] == 200, "nothing lost")

        let text = try await cli.onDatabase("checkpoint")
        #expect(text.status == 0 && text.stdout.hasPrefix("checkpoint (passive): "), "\(text)")
        #expect(text.stdout.contains("; log ") && text.stdout.contains(" → "), "\(text)")
    }

    @Test func vacuumGivesTheFreedPagesBackAndTheQueueStillWorks() async throws {
        do {
            let store = try SQLiteStore(path: cli.database)
            let queue = TaskQueue(store: store)
            let payload = try RawJSON(validating: "\"" + String(repeating: "p", count: 2000) + "\"")
            var tasks: [EnqueueResult] = []
            for _ in 0..<2 {
                tasks += try await queue.enqueue(batch: (0..<1000).map { _ in NewTask(type: "t", payload: payload) })
            }
            _ = try await queue.enqueue(NewTask(type: "kept"))
            for task in tasks { _ = try await queue.cancel(id: task.task.id) }
            #expect(try await store.purge(finishedBefore: Date().addingTimeInterval(60), limit: 5000) == 2000)
        }
        let report = try object(try await cli.onDatabase("vacuum", "--json"))
        let (before, after) = (
            try #require(report["bytes_before"] as? Int), try #require(report["bytes_after"] as? Int)
        )
        #expect(report["incremental"] as? Bool == false && (report["free_pages_before"] as? Int ?? 0) > 500)
        #expect(report["free_pages_after"] as? Int == 0 && after < before / 4, "\(report)")
        #expect(report["blocked"] as? Bool == false && report["wal_bytes_after"] as? Int == 0, "\(report)")
        #expect(try FileManager.default.attributesOfItem(atPath: cli.database)[.size] as? Int == after)
        let list = try CLIRunner.object(try await cli.onDatabase("list", "--json").stdout)
        #expect((list["tasks"] as? [[String: Any]])?.map { $0["type"] as? String } == ["kept"])
    }

    @Test func bothRefuseWhatIsNotAnExistingSQLiteFileAndSayWhatToDo() async throws {
        let cases: [([String], String)] = [
            (["checkpoint", "--db", "postgres://u:secret@127.0.0.1:1/db"], "run CHECKPOINT in psql"),
            (["vacuum", "--db", "postgres://u:secret@127.0.0.1:1/db"], "run VACUUM in psql"),
            (["vacuum", "--db", "http://127.0.0.1:1"], "run it where the server's database is"),
            (["checkpoint", "--db", cli.database], "There is no queue database at"),
        ]
        for (arguments, advice) in cases {
            let output = try await cli.run(arguments)
            #expect(output.status == 1 && output.stderr.hasPrefix("prismq: ") && output.stderr.contains(advice))
            #expect(!output.stderr.contains("secret"), "\(output.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.database), "nothing was created")
        #expect(try await cli.run(["checkpoint", "--db", cli.database, "--mode", "sideways"]).status == 64)
    }

    @Test func checkReportsAHealthyQueueAndExitsOneWithAdviceOnADamagedCopy() async throws {
        #expect(try await cli.onDatabase("enqueue", "--type", "mail").status == 0)
        let healthy = try await cli.onDatabase("check")
        #expect(healthy.status == 0, "\(healthy)")
        #expect(healthy.stdout.hasPrefix("check \(cli.database)\n") && healthy.stdout.contains("  integrity  ok\n"))
        #expect(
            healthy.stdout.contains("queued 1,") && healthy.stdout.hasSuffix("ok: no problems\n"), "\(healthy.stdout)")
        let json = try object(try await cli.onDatabase("check", "--json"))
        #expect(json["ok"] as? Bool == true && json["schema_version"] as? Int ?? 0 >= 5, "\(json)")
        #expect(json["retention"] is NSNull && healthy.stdout.contains("  retention  none applied yet\n"))

        // A server's first maintenance round, at its start, records its policy for check.
        let (server, _) = try await cli.serve(database: cli.database, ["--retain", "report:completed=90d"])
        defer { if server.process.isRunning { server.process.terminate() } }
        let rules = "completed=7d dead=30d cancelled=7d report:completed=90d"
        #expect(
            try await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                (try object(try await cli.onDatabase("check", "--json")))["retention"] as? String == rules
            })
        let served = try await cli.onDatabase("check")
        #expect(served.stdout.contains("  retention  \(rules) (applied 20"), "\(served.stdout)")
        #expect(!served.stdout.contains("note: "), "\(served.stdout)")
        server.process.terminate()
        _ = await server.wait()

        let damaged = cli.directory + "/damaged.db"
        #expect(try await cli.onDatabase("backup", "--to", damaged).status == 0)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: damaged))
        try handle.seek(toOffset: 4096 * 2)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let refused = try await cli.run(["check", "--db", damaged])
        #expect(refused.status == 1, "\(refused)")
        #expect(
            refused.stdout.contains("PROBLEM: ") && refused.stdout.contains("What to do: restore the latest backup"))
        #expect(refused.stdout.hasSuffix("1 problem(s)\n"), "\(refused.stdout)")
        let postgres = try await cli.run(["check", "--db", "postgres://u:secret@127.0.0.1:1/db"])
        #expect(postgres.status == 1 && postgres.stderr.contains("pg_amcheck") && !postgres.stderr.contains("secret"))
    }

    @Test func purgeCountsWithDryRunThenDeletesOnlyWhatItNames() async throws {
        do {
            let queue = TaskQueue(store: try SQLiteStore(path: cli.database))
            let ids = try await queue.enqueue(batch: (0..<5).map { NewTask(type: $0 < 3 ? "mail" : "sms") })
                .map(\.task.id)
            for id in ids.dropLast() { _ = try await queue.cancel(id: id) }
        }
        let dry = try object(
            try await cli.onDatabase("purge", "--status", "cancelled", "--older-than", "0.001s", "--dry-run", "--json"))
        #expect(dry["count"] as? Int == 4 && dry["dry_run"] as? Bool == true, "\(dry)")
        let young = try await cli.onDatabase("purge", "--status", "cancelled", "--older-than", "1h")
        #expect(young.stdout == "purge: deleted 0 cancelled tasks finished more than 1h ago\n", "\(young)")
        let mail = try await cli.onDatabase(
            "purge", "--status", "cancelled", "--older-than", "0.001s", "--type", "mail")
        #expect(mail.stdout == "purge: deleted 3 cancelled tasks of type mail finished more than 0.001s ago\n")
        let list = try CLIRunner.object(try await cli.onDatabase("list", "--json").stdout)
        #expect((list["tasks"] as? [[String: Any]])?.compactMap { $0["type"] as? String } == ["sms", "sms"])

        for (arguments, advice) in [
            (["--status", "queued", "--older-than", "1d"], "Only finished tasks are purged"),
            (["--status", "dead", "--older-than", "soon"], "--older-than takes a number and a unit"),
            (["--status", "dead", "--older-than", "1d", "--type", "bad type"], "type"),
        ] {
            let output = try await cli.run(["purge", "--db", cli.database] + arguments)
            #expect(output.status == 1 && output.stderr.contains(advice), "\(arguments): \(output)")
        }
        let serve = try await cli.run(["serve", "--db", cli.database, "--retain", "queued=1d"])
        #expect(serve.status == 1 && serve.stderr.contains("Only finished tasks are purged"), "\(serve)")
        for malformed in ["report:completed", "", "=", "a:b:dead=1d"] {
            let rule = try await cli.run(["serve", "--db", cli.database, "--retain", malformed])
            #expect(rule.status == 1 && rule.stderr.contains("--retain takes STATUS=DURATION"), "\(rule)")
        }
    }
}
