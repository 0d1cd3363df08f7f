import Foundation
import GRDB
import PrismQHarness
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `prismq serve` as a process: start, HTTP producers and an HTTP worker, SIGTERM, restart.
@Suite("prismq serve process", .timeLimit(.minutes(5)))
struct ServeProcessTests {
    let cli = CLIRunner()

    func serve(_ extra: [String] = []) async throws -> (CLIRunner.Running, String) {
        try await cli.serve(database: cli.database, extra)
    }

    func call(_ method: String, _ url: String, _ body: String? = nil) async throws -> (Int, [String: Any]) {
        try await CLIRunner.call(method, url, body)
    }

    /// Claims and completes tasks over HTTP until `count` are done.
    func work(_ base: String, count: Int, lease: Int = 30) async throws {
        var done = 0
        while done < count {
            let (_, claim) = try await call(
                "POST", base + "/queue/claim",
                #"{"worker_id":"http-worker","max_tasks":5,"wait_seconds":5,"lease_seconds":\#(lease)}"#
            )
            for task in claim["tasks"] as? [[String: Any]] ?? [] where done < count {
                let (status, _) = try await call(
                    "POST", base + "/queue/tasks/\(task["id"]!)/complete", #"{"lease_token":\#(task["lease_token"]!)}"#
                )
                #expect(status == 200)
                done += 1
            }
        }
    }

    @Test func tasksSurviveARestartAndAnHTTPWorkerFinishesThem() async throws {
        var (server, base) = try await serve()
        for n in 0..<20 {
            let (status, _) = try await call("POST", base + "/queue/tasks", #"{"type":"job","payload":{"n":\#(n)}}"#)
            #expect(status == 201)
        }
        try await work(base, count: 5)
        // One task claimed with a short lease and abandoned: the restarted server's sweeper frees it.
        let (_, abandoned) = try await call("POST", base + "/queue/claim", #"{"worker_id":"gone","lease_seconds":1}"#)
        #expect((abandoned["tasks"] as? [Any])?.count == 1)

        server.process.terminate()
        #expect(await server.wait().status == 0, "SIGTERM stops the server gracefully")
        (server, base) = try await serve()
        let (_, stats) = try await call("GET", base + "/queue/stats")
        let counts = stats["by_status"] as? [String: Int] ?? [:]
        #expect(counts.values.reduce(0, +) == 20 && counts["completed"] == 5)

        try await work(base, count: 15)
        let (_, after) = try await call("GET", base + "/queue/stats")
        #expect((after["by_status"] as? [String: Int])?["completed"] == 20, "nothing lost")
        let (_, health) = try await call("GET", base + "/health")
        #expect(health["status"] as? String == "ok")
        server.process.terminate()
        #expect(await server.wait().status == 0)
    }

    @Test func theCLIWorksOnARemoteServerWithItsToken() async throws {
        let (server, url) = try await serve(["--token", "s3cret"])
        let remote = ["--server", url, "--token", "s3cret"]
        func run(_ arguments: String...) async throws -> CLIRunner.Output { try await cli.run(arguments + remote) }

        let enqueued = try CLIRunner.object(
            try await run("enqueue", "--type", "remote", "--payload", #"{"n":1}"#, "--json").stdout)
        #expect(enqueued["id"] as? Int == 1 && enqueued["status"] as? String == "queued")
        _ = try await run("enqueue", "--type", "remote", "--priority", "4")
        let page = try CLIRunner.object(try await run("list", "--json", "--limit", "1").stdout)
        #expect((page["tasks"] as? [[String: Any]])?.first?["id"] as? Int == 2 && page["next_cursor"] is String)
        #expect(try await run("get", "1").stdout.contains("enqueued"))
        #expect(try await run("cancel", "1").stdout == "Task 1 cancelled.\n")
        let conflict = try await run("cancel", "1")
        #expect(conflict.status == 4 && conflict.stderr.hasPrefix("prismq: Task 1 is already cancelled"))
        #expect(try await run("retry", "1").status == 0)
        #expect(try await run("get", "99").status == 3)
        let denied = try await cli.run(["stats", "--server", url, "--token", "wrong"])
        #expect(denied.status == 1 && denied.stderr == "prismq: A valid bearer token is required.\n")

        let worker = try cli.start(["worker", "--type", "remote", "--worker-id", "remote-1", "--exec", "cat"] + remote)
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let stats = try CLIRunner.object(try await run("stats", "--json").stdout)
                return (stats["by_status"] as? [String: Int])?["completed"] == 2
            }
        )
        // The worker has run dry; a task enqueued now still reaches it (its claims long-poll).
        try await Task.sleep(for: .milliseconds(500))
        _ = try await run("enqueue", "--type", "remote")
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let stats = try CLIRunner.object(try await run("stats", "--json").stdout)
                return (stats["by_status"] as? [String: Int])?["completed"] == 3
            }
        )
        worker.process.terminate()
        #expect(await worker.wait().status == 0)
        let done = try CLIRunner.object(try await run("get", "1", "--json").stdout)
        #expect((done["result"] as? [String: Int]) == ["n": 1] && done["claimed_by"] as? String == "remote-1")
        #expect(try await run("workers").stdout.contains("remote-1"))
        server.process.terminate()
        #expect(await server.wait().status == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func aRemoteWorkerStoppedBySIGTERMHandsItsTaskBackWithTheAttemptRefunded() async throws {
        let (server, url) = try await serve()
        defer { server.process.terminate() }
        _ = try await cli.run(["enqueue", "--type", "slow", "--max-attempts", "1", "--server", url])
        let worker = try cli.start(["worker", "--type", "slow", "--exec", "sleep 60", "--server", url])
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                try CLIRunner.object(try await cli.run(["get", "1", "--json", "--server", url]).stdout)["status"]
                    as? String
                    == "running"
            }
        )
        worker.process.terminate()
        #expect(await worker.wait().status == 0)
        // Handed back at once over HTTP, not left to expire (which, on its last attempt, is dead).
        let task = try CLIRunner.object(try await cli.run(["get", "1", "--json", "--server", url]).stdout)
        #expect(task["status"] as? String == "queued" && task["attempts"] as? Int == 0)
        let logs = try await cli.run(["get", "1", "--server", url]).stdout
        #expect(logs.contains("released"))
    }

    /// `--profile` reaches the server's connections: `conservative` maps none of the database
    /// file into memory (`mmap_size = 0`), the default `balanced` maps it (128 MiB at most).
    /// Seen from outside, in `/proc/PID/maps`, on a file whose pages are in it (not in the WAL).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/maps"), "reads /proc"))
    func theProfileReachesTheServersConnections() async throws {
        _ = try await cli.onDatabase("enqueue", "--type", "t")
        for (profile, mapsTheFile) in [("conservative", false), ("balanced", true)] {
            // Every page in the file, none in the log, so that reads go to the file.
            #expect(try await cli.onDatabase("checkpoint", "--mode", "truncate").status == 0)
            let (server, base) = try await serve(["--profile", profile])
            defer { if server.process.isRunning { server.process.terminate() } }
            #expect(try await call("GET", base + "/queue/tasks/1").0 == 200)
            // Read to the end: /proc files have no size, and a sized read stops short.
            let maps = try #require(FileHandle(forReadingAtPath: "/proc/\(server.process.processIdentifier)/maps"))
            let mappings = String(decoding: maps.readDataToEndOfFile(), as: UTF8.self)
            try maps.close()
            let file = URL(fileURLWithPath: cli.database).resolvingSymlinksInPath().path
            let mapped = mappings.split(separator: "\n").contains { $0.hasSuffix(" " + file) }
            #expect(mapped == mapsTheFile, "--profile \(profile): the database file \(mapped ? "is" : "is not") mapped")
            server.process.terminate()
            #expect(await server.wait().status == 0)
        }
    }

    /// A file made read-only under a running server: SQLite goes on writing through the
    /// descriptor it opened read-write, so writes are acknowledged and kept; the next start
    /// refuses the file, and starts again once the mode is given back (docs/failure-modes.md).
    @Test func aFileMadeReadOnlyUnderARunningServerKeepsItsWritesAndTheNextStartRefusesIt() async throws {
        let (server, base) = try await serve()
        defer { if server.process.isRunning { server.process.terminate() } }
        #expect(try await call("POST", base + "/queue/tasks", #"{"type":"before"}"#).0 == 201)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: cli.database)
        #expect(try await call("POST", base + "/queue/tasks", #"{"type":"after"}"#).0 == 201)
        server.process.terminate()
        #expect(await server.wait().status == 0)

        let refused = try await cli.onDatabase("serve", "--port", "0")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("The database \(cli.database) is read-only"), "\(refused.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: cli.database)
        let (again, base2) = try await serve()
        defer { if again.process.isRunning { again.process.terminate() } }
        let (_, list) = try await call("GET", base2 + "/queue/tasks")
        #expect(
            (list["tasks"] as? [[String: Any]])?.compactMap { $0["type"] as? String }.sorted() == ["after", "before"])
        again.process.terminate()
        #expect(await again.wait().status == 0)
    }

    /// The file deleted under a running server: later writes are refused (500) and store
    /// nothing, `/health` answers 503, and what was acknowledged is saved as
    /// docs/failure-modes.md says: the deleted file through `/proc/PID/fd`, with the log.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd"), "reads /proc"))
    func aFileDeletedUnderARunningServerRefusesWritesAndCanBeSaved() async throws {
        let (server, base) = try await serve()
        defer { if server.process.isRunning { server.process.terminate() } }
        #expect(try await call("POST", base + "/queue/tasks", #"{"type":"kept"}"#).0 == 201)
        let file = URL(fileURLWithPath: cli.database).resolvingSymlinksInPath().path
        #expect(unlink(cli.database) == 0)
        let (refused, body) = try await call("POST", base + "/queue/tasks", #"{"type":"refused"}"#)
        #expect(refused == 500 && (body["error"] as? [String: Any])?["code"] as? String == "internal", "\(body)")
        #expect(try await call("GET", base + "/health").0 == 503)

        let descriptors = "/proc/\(server.process.processIdentifier)/fd"
        let deleted = try FileManager.default.contentsOfDirectory(atPath: descriptors).first {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + $0))
                == file + " (deleted)"
        }
        let saved = cli.directory + "/saved.db"
        // As `cp` does, through the link (`copyItem` would copy the link itself).
        let descriptor = try #require(deleted, "no descriptor of the deleted file")
        let open = try #require(FileHandle(forReadingAtPath: descriptors + "/" + descriptor))
        #expect(FileManager.default.createFile(atPath: saved, contents: open.readDataToEndOfFile()))
        try open.close()
        try FileManager.default.copyItem(atPath: cli.database + "-wal", toPath: saved + "-wal")
        server.process.terminate()
        #expect(await server.wait().status == 0)
        let list = try await cli.run(["list", "--db", saved, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let tasks = try CLIRunner.object(list.stdout)["tasks"] as? [[String: Any]] ?? []
        let types = tasks.compactMap { $0["type"] as? String }
        #expect(types == ["kept"], "\(list.stdout)")
    }

    /// `/health` answers 503 while the database cannot answer (here: its tasks table renamed
    /// away by another connection), and 200 again once it can.
    @Test func healthAnswers503WhileTheDatabaseCannotAnswerAndRecovers() async throws {
        let (server, base) = try await serve()
        defer { if server.process.isRunning { server.process.terminate() } }
        #expect(try await call("GET", base + "/health").0 == 200)
        var waiting = Configuration()
        waiting.busyMode = .timeout(10)  // the server's checkpointer may hold a lock for a moment
        let other = try DatabaseQueue(path: cli.database, configuration: waiting)
        try await other.write { try $0.execute(sql: "ALTER TABLE tasks RENAME TO tasks_away") }
        let (status, health) = try await call("GET", base + "/health")
        #expect(status == 503 && health["status"] as? String == "unavailable", "\(status) \(health)")
        try await other.write { try $0.execute(sql: "ALTER TABLE tasks_away RENAME TO tasks") }
        try other.close()
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                try await call("GET", base + "/health").0 == 200
            })
        server.process.terminate()
        #expect(await server.wait().status == 0)
    }

    /// `--idle-timeout` closes a connection that sends nothing, but not one whose long-poll
    /// claim is being answered, however long it waits.
    @Test func anIdleConnectionIsClosedAndALongPollIsNot() async throws {
        let (server, base) = try await serve(["--idle-timeout", "1"])
        defer { if server.process.isRunning { server.process.terminate() } }
        let port = try #require(URL(string: base)?.port)
        let idle = try RawHTTPConnection(port: port)
        defer { idle.disconnect() }
        let polling = try RawHTTPConnection(port: port)
        defer { polling.disconnect() }
        polling.send(
            "POST", "/queue/claim", headers: ["Content-Type: application/json"],
            body: #"{"worker_id":"patient","wait_seconds":3}"#)
        let closed = await idle.response()
        #expect(closed.status == 0 && closed.body.isEmpty, "closed without an answer: \(closed)")
        let reply = await polling.response()
        #expect(reply.status == 200 && reply.body.contains(#""tasks":[]"#), "\(reply)")
        let refused = try await cli.run(["serve", "--db", cli.database, "--port", "0", "--idle-timeout=-1"])
        #expect(
            refused.status == 1
                && refused.stderr.contains("--idle-timeout must be 0 (never) or between 0.001 and 86400"))
    }

    @Test func anOpenAddressWithoutATokenIsRefused() async throws {
        let output = try await cli.run(["serve", "--db", cli.database, "--host", "0.0.0.0", "--port", "0"])
        #expect(output.status == 1)
        #expect(output.stderr.hasPrefix("prismq: Refusing to serve 0.0.0.0 without a token"))
    }
}
