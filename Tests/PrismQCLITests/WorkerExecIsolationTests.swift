import Foundation
import PrismQHarness
import Testing

/// What `prismq worker --exec` keeps from its commands: the API token, and a scratch
/// directory that nobody else can see, predict or plant.
@Suite("prismq worker --exec isolation", .timeLimit(.minutes(5)))
struct WorkerExecIsolationTests {
    let cli = CLIRunner()

    @Test func commandsNeverSeeTheAPITokenUnderAnyName() async throws {
        #expect(try await cli.run(["enqueue", "--type", "env", "--db", cli.database]).status == 0)
        let environment = ProcessInfo.processInfo.environment.merging([
            "PRISMQ_API_TOKEN": "tok-env-5f1e", "ALIAS_OF_ENV_TOKEN": "tok-env-5f1e",
            "DEPLOY_SECRET": "tok-flag-9a2c", "PRISMQ_TEST_MARKER": "visible",
        ]) { $1 }
        let worker = try cli.start(
            [
                "worker", "--db", cli.database, "--token", "tok-flag-9a2c", "--exec",
                "env | grep -e '^PRISMQ_' -e 'tok-' >&2; exit 65",
            ],
            environment: environment
        )
        let dead = try await cli.task(1) { $0["status"] as? String == "dead" }
        worker.process.terminate()
        #expect(await worker.wait().status == 0)

        let seen = try #require(dead["last_error"] as? String)
        #expect(seen.contains("PRISMQ_TASK_ID=1") && seen.contains("PRISMQ_TEST_MARKER=visible"), "\(seen)")
        #expect(!seen.contains("PRISMQ_API_TOKEN") && !seen.contains("tok-"), "\(seen)")
    }

    @Test func eachWorkerWritesOutputInAFreshPrivateDirectoryAndRemovesIt() async throws {
        let temporary = cli.directory + "/tmp"
        let bait = cli.directory + "/bait"
        for directory in [temporary, bait] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        }
        #expect(try await cli.run(["enqueue", "--type", "a", "--db", cli.database]).status == 0)
        #expect(try await cli.run(["enqueue", "--type", "b", "--db", cli.database]).status == 0)
        // Where the command's stdout file is, that directory's and that file's modes, and
        // whether the directory is a symbolic link.
        let report = #"""
            d=$(dirname "$(readlink /proc/$$/fd/1)")
            printf '{"dir":"%s","mode":"%s","file":"%s","link":%s}' "$d" "$(stat -c %a "$d")" \
              "$(stat -L -c %a /proc/$$/fd/1)" "$([ -L "$d" ] && echo true || echo false)"
            """#
        // Each worker finds the old predictable path, $TMPDIR/prismq-worker-PID, already taken
        // by a symbolic link to a directory someone else controls.
        let workers = try ["a", "b"].map { type in
            try cli.shell(
                #"ln -s "$BAIT" "$TMPDIR/prismq-worker-$$" && exec "$@""#,
                [CLIRunner.binary, "worker", "--db", cli.database, "--type", type, "--exec", report],
                environment: ["TMPDIR": temporary, "BAIT": bait]
            )
        }
        var directories: [String] = []
        for id in [1, 2] {
            let done = try await cli.task(id) { $0["status"] as? String == "completed" }
            let result = try #require(done["result"] as? [String: Any], "\(done)")
            let directory = try #require(result["dir"] as? String)
            #expect(directory.hasPrefix(temporary + "/prismq-worker-"), "\(directory)")
            #expect(result["mode"] as? String == "700" && result["file"] as? String == "600", "\(result)")
            #expect(result["link"] as? Bool == false)
            directories.append(directory)
        }
        #expect(Set(directories).count == 2, "one directory per worker")
        let planted = workers.map { temporary + "/prismq-worker-\($0.process.processIdentifier)" }
        #expect(planted.allSatisfy { !directories.contains($0) }, "the pre-existing path is not used")
        #expect(try FileManager.default.contentsOfDirectory(atPath: bait).isEmpty, "the link is not followed")

        for worker in workers { worker.process.terminate() }
        for worker in workers {
            #expect(await worker.wait().status == 0)
        }
        #expect(directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "removed at shutdown")
        let left = try FileManager.default.contentsOfDirectory(atPath: temporary).map { temporary + "/" + $0 }
        #expect(Set(left) == Set(planted), "only the planted links are left")
    }
}

extension CLIRunner {
    /// Task `id`'s `get --json` object once `condition` holds for it (or the last one read,
    /// after 30 s).
    func task(_ id: Int, when condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        var object: [String: Any] = [:]
        _ = try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
            object = try Self.object(try await run(["get", String(id), "--json", "--db", database]).stdout)
            return condition(object)
        }
        return object
    }

    /// Starts `/bin/sh -c script` with `arguments` as `$@` and the test's environment plus
    /// `environment`. Lets a test do what `prismq` cannot be asked to: run in a known pid
    /// (`exec "$@"`), or get arguments that are not valid UTF-8.
    func shell(_ script: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        try start(
            ["-c", script, "sh"] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, executable: "/bin/sh")
    }
}
