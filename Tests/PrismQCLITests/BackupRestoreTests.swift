import Foundation
import PrismQHarness
import Testing

/// `prismq backup`, `prismq restore` and `prismq serve --backup-every`, as an operator runs them.
@Suite("prismq backup and restore", .timeLimit(.minutes(3)))
struct BackupRestoreTests {
    let cli = CLIRunner()

    func enqueue(_ base: String, count: Int) async throws {
        for n in 0..<count {
            let (status, _) = try await CLIRunner.call(
                "POST", base + "/queue/tasks", #"{"type":"job","payload":{"n":\#(n)}}"#)
            #expect(status == 201)
        }
    }

    func total(_ base: String) async throws -> Int {
        let (_, stats) = try await CLIRunner.call("GET", base + "/queue/stats")
        return (stats["by_status"] as? [String: Int] ?? [:]).values.reduce(0, +)
    }

    @Test func aBackupOfAServedQueueRestoresOnceTheServerHasStopped() async throws {
        let backup = cli.directory + "/backups/queue-backup.db"
        var (server, base) = try await cli.serve(database: cli.database)
        try await enqueue(base, count: 5)

        let written = try await cli.onDatabase("backup", "--to", backup, "--json")
        #expect(written.status == 0, "\(written.stderr)")
        let report = try CLIRunner.object(written.stdout)
        #expect(report["tasks"] as? Int == 5 && report["path"] as? String == backup, "\(report)")
        let mode = try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)

        try await enqueue(base, count: 3)
        let refused = try await cli.onDatabase("restore", "--from", backup)
        #expect(refused.status == 1 && refused.stderr.contains("open"), "\(refused)")
        #expect(try await total(base) == 8, "a refused restore changes nothing")

        server.process.terminate()
        #expect(await server.wait().status == 0)
        let restored = try await cli.onDatabase("restore", "--from", backup)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.hasPrefix("restore: \(cli.database): 5 tasks, schema version "), "\(restored.stdout)")
        #expect(restored.stdout.contains("It replaced 8 tasks; that file is kept as \(cli.database).replaced-"))

        (server, base) = try await cli.serve(database: cli.database)
        #expect(try await total(base) == 5)
        try await enqueue(base, count: 1)
        #expect(try await total(base) == 6, "the restored queue takes new tasks")
        server.process.terminate()
        #expect(await server.wait().status == 0)
    }

    @Test func aServerBacksUpOnScheduleAndKeepsTheNewest() async throws {
        let folder = cli.directory + "/rotated"
        let (server, base) = try await cli.serve(
            database: cli.database,
            ["--backup-every", "1s", "--backup-dir", folder, "--backup-keep", "2", "--log-format", "json"])
        try await enqueue(base, count: 2)
        func backups() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".db") }
                .sorted()
        }
        var seen = Set<String>()
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                seen.formUnion(backups())
                return seen.count >= 4
            }, "four backups were taken")
        // Stopped first, so that the backups stay as they are while they are looked at.
        server.process.terminate()
        let output = await server.wait()
        #expect(output.status == 0)
        #expect(backups().count == 2, "\(backups())")
        let newest = try #require(backups().last)
        #expect(newest.hasPrefix("queue-") && newest.count == "queue-20261203T131609903Z.db".count, "\(newest)")
        let check = try await cli.run(["stats", "--json", "--db", folder + "/" + newest])
        #expect(check.status == 0, "\(check.stderr)")
        let counts = try CLIRunner.object(check.stdout)["by_status"] as? [String: Int]
        #expect(counts?["queued"] == 2, "the newest backup holds both tasks")
        // Its log is one JSON object a line, with dotted metadata keys.
        let lines = try output.stderr.split(separator: "\n").map { try CLIRunner.object(String($0)) }
        let written = lines.filter { $0["message"] as? String == "Backup written" }
        #expect(written.count >= 4 && written.allSatisfy { $0["level"] as? String == "notice" }, "\(output.stderr)")
        #expect(written.compactMap { $0["prismq.backup.path"] as? String }.contains(folder + "/" + newest))
        #expect(lines.allSatisfy { $0["time"] is String && $0["label"] is String }, "\(output.stderr)")
    }

    @Test func theyRefuseWhatTheyCannotDoAndSayWhatToDo() async throws {
        let postgres = "postgres://u:secret@127.0.0.1:1/db"
        let cases: [([String], Int32, String)] = [
            (["backup", "--db", postgres, "--to", "x.db"], 1, "Use pg_dump"),
            (["restore", "--db", postgres, "--from", "x.db"], 1, "Use pg_restore"),
            (["backup", "--db", "http://127.0.0.1:1", "--to", "x.db"], 1, "run it where the server's database is"),
            (["backup", "--db", cli.database, "--to", "x.db"], 1, "There is no queue database at"),
            (["restore", "--db", cli.database, "--from", cli.directory + "/none.db"], 3, "There is no backup at"),
            (
                ["serve", "--db", cli.database, "--backup-every", "1h"], 1,
                "--backup-every and --backup-dir go together"
            ),
            (["serve", "--db", cli.database, "--backup-every", "soon", "--backup-dir", "b"], 1, "such as 90s, 30m"),
            (["serve", "--db", postgres, "--backup-every", "1h", "--backup-dir", "b"], 1, "pg_dump"),
        ]
        for (arguments, status, advice) in cases {
            let output = try await cli.run(arguments, workingDirectory: cli.directory)
            #expect(output.status == status && output.stderr.contains(advice), "\(arguments): \(output)")
            #expect(!output.stderr.contains("secret"), "\(output.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: cli.directory).allSatisfy { !$0.hasSuffix(".db") })
    }
}
