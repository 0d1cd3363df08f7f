import Foundation
import GRDB
import PrismQHarness
import PrismQSQLite
import Testing

@Suite("prismq CLI, end to end through the built binary", .timeLimit(.minutes(5)))
struct CLITests {
    let cli = CLIRunner()

    @Test func enqueueThenListShowsTheTask() async throws {
        let enqueued = try await cli.onDatabase("enqueue", "--type", "demo", "--payload", #"{"n":1}"#)
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        #expect(enqueued.stdout.hasPrefix("Enqueued task 1 (demo), queued"))
        let list = try await cli.onDatabase("list")
        #expect(list.status == 0)
        let lines = list.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID  TYPE  STATUS") == true)
        #expect(lines.dropFirst().first?.hasPrefix("1   demo  queued") == true)

        let json = try CLIRunner.object(try await cli.onDatabase("list", "--json").stdout)
        let tasks = json["tasks"] as! [[String: Any]]
        #expect(tasks.count == 1)
        #expect(tasks[0]["type"] as? String == "demo")
        #expect((tasks[0]["payload"] as? [String: Any])?["n"] as? Int == 1)
        #expect(json["next_cursor"] is NSNull)
    }

    @Test(.timeLimit(.minutes(2)))
    func statsWatchPrintsAFreshReportEachIntervalUntilInterrupted() async throws {
        #expect(try await cli.onDatabase("enqueue", "--type", "mail").status == 0)
        let watching = try cli.start(["stats", "--watch", "--every", "0.2", "--json", "--db", cli.database])
        func queued() -> [Int] {
            let text = String(decoding: FileManager.default.contents(atPath: watching.out) ?? Data(), as: UTF8.self)
            return text.split(separator: "\n").compactMap { line in
                ((try? CLIRunner.object(String(line)))?["by_status"] as? [String: Int])?["queued"]
            }
        }
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) { queued().count >= 2 }, "it refreshes")
        #expect(try await cli.onDatabase("enqueue", "--type", "mail").status == 0)
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) { queued().last == 2 },
            "and sees the new task")
        #expect(queued().first == 1)
        kill(watching.process.processIdentifier, SIGINT)
        #expect(await watching.wait().status != 0, "until interrupted")
        let refused = try await cli.onDatabase("stats", "--watch", "--every", "0")
        #expect(refused.status == 1 && refused.stderr.contains("--every must be at least 0.1 seconds"))
        let alone = try await cli.onDatabase("stats", "--every", "5")
        #expect(alone.status == 1 && alone.stderr.contains("--every goes with --watch"))
    }

    @Test func everyProducerCommandWorksAndPrintsJSON() async throws {
        let task = try CLIRunner.object(
            try await cli.onDatabase(
                "enqueue", "--type", "mail", "--priority", "7", "--max-attempts", "5", "--delay", "60", "--json"
            ).stdout
        )
        #expect(task["priority"] as? Int == 7 && task["max_attempts"] as? Int == 5)
        #expect(task["status"] as? String == "queued")
        let got = try CLIRunner.object(try await cli.onDatabase("get", "1", "--json").stdout)
        #expect(got["id"] as? Int == 1 && got["run_after"] as? String == task["run_after"] as? String)
        let detail = try await cli.onDatabase("get", "1")
        #expect(detail.stdout.contains("history") && detail.stdout.contains("enqueued"))

        let cancelled = try CLIRunner.object(try await cli.onDatabase("cancel", "1", "--json").stdout)
        #expect(cancelled["status"] as? String == "cancelled")
        let again = try await cli.onDatabase("cancel", "1")
        #expect(again.status == 4)
        #expect(again.stderr == "prismq: Task 1 is already cancelled and cannot be cancelled.\n")

        let retried = try CLIRunner.object(try await cli.onDatabase("retry", "1", "--json").stdout)
        #expect(retried["status"] as? String == "queued" && retried["attempts"] as? Int == 0)

        let stats = try CLIRunner.object(try await cli.onDatabase("stats", "--json").stdout)
        #expect((stats["by_status"] as? [String: Int])?["queued"] == 1)
        #expect((stats["by_type"] as? [String: [String: Int]])?["mail"]?["queued"] == 1)
        #expect(try await cli.onDatabase("stats").stdout.contains("mail"))
    }

    @Test func badInputGetsOneSentenceAndCreatesNothing() async throws {
        let cases: [[String]] = [
            ["enqueue", "--type", "bad type"],
            ["enqueue", "--type", "t", "--payload", "{oops"],
            ["enqueue", "--type", "t", "--priority", "5000"],
            ["enqueue", "--type", "t", "--max-attempts", "0"],
            ["enqueue", "--type", "t", "--delay=-1"],
            ["enqueue", "--type", "t", "--delay", "1", "--run-after", "2030-01-01T00:00:00Z"],
            ["enqueue", "--type", "t", "--run-after", "tomorrow"],
            ["list", "--limit", "0"],
            ["list", "--status", "sleeping"],
            ["list", "--cursor", "nonsense!"],
            ["enqueue", "--type", "t", "--profile", "turbo"],
        ]
        for arguments in cases {
            let output = try await cli.onDatabase(arguments[0], Array(arguments.dropFirst()))
            #expect(output.status == 1, "\(arguments)")
            #expect(output.stderr.hasPrefix("prismq: ") && output.stderr.split(separator: "\n").count == 1)
            #expect(output.stdout.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: cli.database), "bad input created the database")
    }

    @Test func payloadsComeFromArgumentsStandardInputOrFiles() async throws {
        let fromStdin = try await cli.start(
            ["enqueue", "--db", cli.database, "--type", "t", "--payload", "-", "--json"], stdin: #" {"via":"stdin"} "#
        ).wait()
        #expect(fromStdin.status == 0, "\(fromStdin.stderr)")
        #expect((try CLIRunner.object(fromStdin.stdout)["payload"] as? [String: String]) == ["via": "stdin"])
        let file = cli.directory + "/payload.json"
        _ = FileManager.default.createFile(atPath: file, contents: Data("[1, 2, 3]".utf8))
        let fromFile = try await cli.onDatabase("enqueue", "--type", "t", "--payload", "@" + file, "--json")
        #expect((try CLIRunner.object(fromFile.stdout)["payload"] as? [Int]) == [1, 2, 3])
        let missing = try await cli.onDatabase("enqueue", "--type", "t", "--payload", "@/no/such/file")
        #expect(missing.status == 1 && missing.stderr == "prismq: Cannot read the payload file /no/such/file.\n")
    }

    @Test func aPayloadThatIsNotUTF8OrStartsWithAByteOrderMarkIsRefused() async throws {
        #expect(try await cli.onDatabase("enqueue", "--type", "t", "--payload", "1").status == 0)
        let bom = "prismq: The payload starts with a byte-order mark; give UTF-8 without one.\n"
        let notUTF8 = "prismq: The payload is not valid UTF-8.\n"
        func file(_ bytes: [UInt8]) -> String {
            let path = cli.directory + "/payload-\(UUID().uuidString).json"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            return "@" + path
        }
        let refusals: [(CLIRunner.Output, String)] = [
            (try await cli.onDatabase("enqueue", "--type", "t", "--payload", "\u{FEFF}{}"), bom),
            (
                try await cli.onDatabase(
                    "enqueue", "--type", "t", "--payload", file([0xEF, 0xBB, 0xBF] + Array("{}".utf8))),
                bom
            ),
            (
                try await cli.start(
                    ["enqueue", "--db", cli.database, "--type", "t", "--payload", "-"], stdin: "\u{FEFF}[1]"
                ).wait(), bom
            ),
            (try await cli.onDatabase("enqueue", "--type", "t", "--payload", file([0x22, 0xFF, 0x22])), notUTF8),
        ]
        for (output, message) in refusals {
            #expect(output.status == 1 && output.stderr == message && output.stdout.isEmpty, "\(output)")
        }
        // An argument that is not UTF-8, which Swift would otherwise repair into U+FFFD.
        let errors = cli.directory + "/argv.err"
        let literal = try cli.shell(
            #"exec "$@" --payload "$(printf '"\377"')" 2>"$ERRORS""#,
            [CLIRunner.binary, "enqueue", "--db", cli.database, "--type", "t"], environment: ["ERRORS": errors]
        )
        #expect(await literal.wait().status == 1)
        #expect(FileManager.default.contents(atPath: errors) == Data(notUTF8.utf8))

        let list = try CLIRunner.object(try await cli.onDatabase("list", "--json").stdout)
        #expect((list["tasks"] as! [[String: Any]]).map { $0["id"] as! Int } == [1], "nothing more was enqueued")
    }

    @Test func humanOutputEscapesControlCharactersAndJSONKeepsThem() async throws {
        let key = "key\u{1B}]0;title\u{07}\u{7F}\u{9B}"
        #expect(try await cli.onDatabase("enqueue", "--type", "t", "--idempotency-key", key).status == 0)
        let worker = try cli.start([
            "worker", "--db", cli.database, "--worker-id", "w\u{1B}[2J", "--exec",
            #"printf '\033[31m\rx' >&2; exit 65"#,
        ])
        let task = try await cli.task(1) { $0["status"] as? String == "dead" }
        worker.process.terminate()
        #expect(await worker.wait().status == 0)
        #expect(task["status"] as? String == "dead", "\(task)")
        #expect(task["idempotency_key"] as? String == key, "--json keeps the text exactly")
        #expect(task["last_error"] as? String == "The command exited with status 65: \u{1B}[31m\rx")

        let get = try await cli.onDatabase("get", "1").stdout
        #expect(get.contains(#"key\u{1B}]0;title\u{07}\u{7F}\u{9B}"#), "\(get)")
        #expect(get.contains(#"The command exited with status 65: \u{1B}[31m\u{0D}x"#), "\(get)")
        #expect(get.contains(#"w\u{1B}[2J"#), "the worker id in the history")
        let list = try await cli.onDatabase("list").stdout
        #expect(list.contains(#"status 65: \u{1B}[31"#), "\(list)")
        let workers = try await cli.onDatabase("workers").stdout
        #expect(workers.contains(#"w\u{1B}[2J"#), "\(workers)")
        for output in [get, list, workers] {
            let raw = output.unicodeScalars.filter {
                $0 != "\n" && ($0.value < 0x20 || (0x7F...0x9F).contains($0.value))
            }
            #expect(raw.isEmpty, "raw control characters: \(raw.map(\.value))")
        }
    }

    @Test func listFiltersByAPayloadFieldIndexedOrNot() async throws {
        _ = try await cli.onDatabase("enqueue", "--type", "t", "--payload", #"{"customer":"acme","n":1}"#)
        _ = try await cli.onDatabase("enqueue", "--type", "t", "--payload", #"{"customer":"zeta","n":2}"#)
        func listed(_ arguments: String...) async throws -> [Int] {
            let page = try CLIRunner.object(try await cli.onDatabase("list", arguments + ["--json"]).stdout)
            return (page["tasks"] as! [[String: Any]]).map { $0["id"] as! Int }
        }
        #expect(try await listed("--payload-field", "customer=acme") == [1])
        #expect(try await listed("--payload-field", "n=2") == [2])
        #expect(try await listed("--payload-field", "customer=acme", "--index-payload-field", "customer") == [1])
        #expect(try await listed("--payload-field", "customer=nobody") == [])
        let bad = try await cli.onDatabase("list", "--payload-field", "no-equals-sign")
        #expect(bad.status == 1 && bad.stderr == "prismq: A payload match is written FIELD=VALUE.\n")
    }

    @Test func commandsOtherThanEnqueueRefuseAMissingDatabase() async throws {
        for command in [["list"], ["stats"], ["get", "1"], ["cancel", "1"], ["retry", "1"], ["workers"]] {
            let output = try await cli.run(command + ["--db", cli.database])
            #expect(output.status == 1)
            #expect(output.stderr == "prismq: There is no queue database at \(cli.database).\n")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.database))
    }

    @Test func unknownIdsExitWithNotFound() async throws {
        _ = try await cli.onDatabase("enqueue", "--type", "t")
        for command in ["get", "cancel", "retry"] {
            let output = try await cli.onDatabase(command, "42")
            #expect(output.status == 3)
            #expect(output.stderr == "prismq: No task has the id 42.\n")
        }
    }

    @Test func aFileThatIsNotADatabaseIsNamedInTheError() async throws {
        let path = cli.directory + "/notes.txt"
        _ = FileManager.default.createFile(atPath: path, contents: Data(String(repeating: "hello\n", count: 300).utf8))
        let output = try await cli.run(["list", "--db", path])
        #expect(output.status == 1)
        #expect(output.stderr.contains(path) && output.stderr.contains("not a PrismQ SQLite database"))
    }

    @Test func theDefaultDatabaseFollowsTheEnvironment() async throws {
        let explicit = cli.directory + "/env/explicit.db"
        let base = ["PATH": "/usr/bin:/bin", "HOME": cli.directory + "/home"]
        _ = try await cli.run(
            ["enqueue", "--type", "t"], environment: base.merging(["PRISMQ_QUEUE_DB_PATH": explicit]) { $1 })
        #expect(FileManager.default.fileExists(atPath: explicit))
        _ = try await cli.run(
            ["enqueue", "--type", "t"], environment: base.merging(["XDG_DATA_HOME": cli.directory + "/xdg"]) { $1 })
        #expect(FileManager.default.fileExists(atPath: cli.directory + "/xdg/prismq/queue.db"))
        _ = try await cli.run(["enqueue", "--type", "t"], environment: base)
        #expect(FileManager.default.fileExists(atPath: cli.directory + "/home/.local/share/prismq/queue.db"))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd"), "reads /proc"))
    func concurrentProcessesWithOneIdempotencyKeyCreateOneTask() async throws {
        // The barrier: a write lock held while the processes start, so that they all wait on it
        // (within the conservative profile's 10 s busy timeout) and race once it goes.
        _ = try SQLiteStore(path: cli.database)
        let blocker = try SQLiteWriteLock(path: cli.database)
        let processes = try (0..<8).map { n in
            try cli.start([
                "enqueue", "--db", cli.database, "--profile", "conservative", "--type", "t", "--payload", "\(n)",
                "--idempotency-key", "once", "--json",
            ])
        }
        // All open the file while the lock is held (within their 10 s busy timeout), or the
        // race this test is about may not happen.
        #expect(
            await eventually(timeout: .seconds(8), every: .milliseconds(50)) {
                processes.allSatisfy { Self.hasOpen(self.cli.database, $0.process.processIdentifier) }
            }, "every process opened the database before the lock went")
        try blocker.release()
        var outputs: [CLIRunner.Output] = []
        for process in processes { outputs.append(await process.wait()) }
        #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs.map(\.stderr))")
        let ids = try outputs.map { try CLIRunner.object($0.stdout)["id"] as! Int }
        #expect(Set(ids).count == 1)
        let list = try CLIRunner.object(try await cli.onDatabase("list", "--json").stdout)
        #expect((list["tasks"] as! [Any]).count == 1)
    }

    /// Whether process `pid` has the file at `path` open.
    static func hasOpen(_ path: String, _ pid: Int32) -> Bool {
        let file = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return descriptors.contains {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == file
        }
    }

    @Test func listPagesWithTheCursorItPrints() async throws {
        for _ in 0..<5 { _ = try await cli.onDatabase("enqueue", "--type", "t") }
        var cursor: String?
        var ids: [Int] = []
        repeat {
            var arguments = ["list", "--json", "--limit", "2"]
            if let cursor { arguments += ["--cursor", cursor] }
            let page = try CLIRunner.object(try await cli.onDatabase(arguments[0], Array(arguments.dropFirst())).stdout)
            ids += (page["tasks"] as! [[String: Any]]).map { $0["id"] as! Int }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        #expect(ids == [5, 4, 3, 2, 1])
        #expect(try await cli.onDatabase("list", "--limit", "2").stdout.contains("More: --cursor "))
    }
}

extension CLIRunner {
    fileprivate func onDatabase(_ command: String, _ rest: [String]) async throws -> Output {
        try await run([command] + rest + ["--db", database])
    }
}
