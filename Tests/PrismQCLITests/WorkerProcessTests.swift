import Foundation
import GRDB
import PrismQ
import PrismQHarness
import Testing

@testable import PrismQSQLite

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `prismq worker` processes on one database file, end to end.
@Suite("prismq worker processes", .timeLimit(.minutes(10)))
struct WorkerProcessTests {
    let cli = CLIRunner()

    func count(_ store: SQLiteStore, _ sql: String) async throws -> Int {
        try await store.pool.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    func worker(_ id: String, _ extra: [String] = [], exec: String) throws -> CLIRunner.Running {
        try cli.start(["worker", "--db", cli.database, "--worker-id", id, "--exec", exec] + extra)
    }

    @Test func severalWorkersFinishTenThousandTasksExactlyOnceWhenOneIsKilled() async throws {
        let store = try SQLiteStore(path: cli.database)
        for _ in 0..<10 {
            _ = try await store.enqueue(
                (0..<1000).map { n in NewTask(type: "t", payload: try! RawJSON(validating: "\(n)")) })
        }
        let options = ["--type", "t", "--concurrency", "4", "--lease", "1.5"]
        let victim = try worker("victim", options, exec: "cat >/dev/null")
        let others = try ["w1", "w2"].map { try worker($0, options, exec: "cat >/dev/null") }

        // Kill the victim with SIGKILL while it holds leases on running tasks.
        let holding = try await eventually(timeout: .seconds(120), every: .milliseconds(50)) {
            let completed = try await count(store, "SELECT count(*) FROM tasks WHERE status = 'completed'")
            let held = try await count(
                store, "SELECT count(*) FROM tasks WHERE status = 'running' AND claimed_by = 'victim'"
            )
            return completed >= 1500 && held > 0
        }
        #expect(holding, "the victim never held a running task")
        kill(victim.process.processIdentifier, SIGKILL)
        #expect(await victim.wait().status == SIGKILL)

        let finished = try await eventually(timeout: .seconds(300), every: .milliseconds(50)) {
            try await count(store, "SELECT count(*) FROM tasks WHERE status = 'completed'") == 10_000
        }
        #expect(finished)
        for other in others { other.process.terminate() }
        for other in others { #expect(await other.wait().status == 0) }

        #expect(try await count(store, "SELECT count(*) FROM tasks") == 10_000, "no task lost or duplicated")
        #expect(try await count(store, "SELECT count(*) FROM tasks WHERE status != 'completed'") == 0)
        #expect(try await count(store, "SELECT count(*) FROM task_logs WHERE event = 'completed'") == 10_000)
        #expect(
            try await count(
                store,
                "SELECT count(*) FROM (SELECT task_id FROM task_logs WHERE event = 'completed' GROUP BY task_id HAVING count(*) > 1)"
            ) == 0,
            "every task completed exactly once"
        )
        let orphaned = try await count(
            store, "SELECT count(*) FROM task_logs WHERE event = 'expired' AND worker_id = 'victim'")
        #expect(orphaned > 0, "the victim's leases expired and its tasks ran again elsewhere")
        #expect(try await count(store, "SELECT count(*) FROM tasks WHERE attempts > 1") >= orphaned)
        let states = Dictionary(uniqueKeysWithValues: try await store.workers().map { ($0.id, $0.state) })
        #expect(states["w1"] == .stopped && states["w2"] == .stopped && states["victim"] != .stopped)
    }

    @Test func theExecContractMapsExitStatusesStdoutStderrAndTheEnvironment() async throws {
        let store = try SQLiteStore(path: cli.database)
        func add(
            _ type: String, _ payload: String = "null", attempts: Int = 3, timeout: Duration? = nil
        ) async throws -> Int64 {
            try await store.enqueue([
                NewTask(type: type, payload: try RawJSON(validating: payload), maxAttempts: attempts, timeout: timeout)
            ])[0].task.id
        }
        let echo = try await add("echo", #"{"n":7}"#)
        let env = try await add("env")
        let text = try await add("text")
        let permanent = try await add("permanent")
        let flaky = try await add("flaky", attempts: 2)
        let slow = try await add("slow", attempts: 1, timeout: .milliseconds(300))
        let hang = try await add("hang")
        let script = """
            case "$PRISMQ_TASK_TYPE" in
              echo) cat ;;
              env) printf '{"id":%s,"type":"%s","attempt":%s}' "$PRISMQ_TASK_ID" "$PRISMQ_TASK_TYPE" "$PRISMQ_ATTEMPT" ;;
              text) echo 'plain words' ;;
              permanent) echo 'first line' >&2; echo 'bad payload' >&2; exit 65 ;;
              flaky) echo "attempt $PRISMQ_ATTEMPT failed" >&2; exit 3 ;;
              slow|hang) sleep 31.5 ;;
            esac
            """
        let running = try worker("exec", ["--concurrency", "8", "--lease", "0.6"], exec: script)
        func task(_ id: Int64) async throws -> QueueTask { try await store.task(id: id) }
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                try await task(hang).status == .running
            })
        _ = try await store.cancel(id: hang)
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                for id in [echo, env, text, permanent, flaky, slow, hang] where try await !task(id).status.isFinished {
                    return false
                }
                return true
            }
        )
        running.process.terminate()
        #expect(await running.wait().status == 0)

        #expect(try await task(echo).result?.text == #"{"n":7}"#)
        #expect(try await task(env).result?.text == #"{"id":\#(env),"type":"env","attempt":1}"#)
        let plain = try await task(text)
        #expect(plain.status == .completed && plain.result == nil, "stdout that is not JSON is no result")
        let dead = try await task(permanent)
        #expect(dead.status == .dead && dead.attempts == 1)
        #expect(dead.lastError == "The command exited with status 65: first line\nbad payload")
        let retried = try await task(flaky)
        #expect(retried.status == .dead && retried.attempts == 2)
        #expect(retried.lastError == "The command exited with status 3: attempt 2 failed")
        let timedOut = try await task(slow)
        #expect(timedOut.status == .dead && timedOut.lastError?.hasPrefix("Timed out after") == true)
        #expect(try await task(hang).status == .cancelled)
        let killed = await eventually(timeout: .seconds(10), every: .milliseconds(50)) {
            !Self.processExists(matching: "sleep 31.5")
        }
        #expect(killed, "timed-out and cancelled commands are killed")
        let workers = try await store.workers()
        #expect(workers.first?.id == "exec" && workers.first?.state == .stopped && workers.first?.capabilities == [])
    }

    /// Whether any process's command line contains `text`.
    /// A worker frozen (SIGSTOP) past its lease loses the task to another worker, and when it
    /// thaws it cannot complete it: the other worker's completion is the only one.
    @Test(.timeLimit(.minutes(2)))
    func aWorkerFrozenPastItsLeaseCannotCompleteTheTaskAfterItThaws() async throws {
        #expect(try await cli.onDatabase("enqueue", "--type", "slow").status == 0)
        let frozen = try worker(
            "frozen", ["--type", "slow", "--lease", "1", "--log-level", "info"],
            exec: #"sleep 4; echo '{"by":"frozen"}'"#)
        let store = try SQLiteStore(path: cli.database)
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let task = try await store.task(id: 1)
                return task.status == .running && task.claimedBy == "frozen"
            })
        kill(frozen.process.processIdentifier, SIGSTOP)
        // Another worker's sweep takes the expired lease back; it claims and completes the task.
        let other = try worker("other", ["--type", "slow", "--lease", "30"], exec: #"echo '{"by":"other"}'"#)
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                try await store.task(id: 1).status == .completed
            })
        kill(frozen.process.processIdentifier, SIGCONT)
        // Thawed, it finds its lease gone (on renewal) or its completion refused; it says so.
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let said = String(decoding: FileManager.default.contents(atPath: frozen.err) ?? Data(), as: UTF8.self)
                return said.contains("Lease lost; the outcome is dropped")
                    || said.contains("The outcome was not recorded")
            })
        frozen.process.terminate()
        #expect(await frozen.wait().status == 0)
        other.process.terminate()
        #expect(await other.wait().status == 0)

        let task = try await store.task(id: 1)
        #expect(task.result?.text == #"{"by":"other"}"#, "\(String(describing: task.result))")
        let logs = try await store.logs(taskID: 1)
        #expect(logs.map(\.event) == [.enqueued, .claimed, .expired, .claimed, .completed], "\(logs)")
        #expect(logs.last?.workerID == "other" && task.attempts == 2)
    }

    /// SIGTERM to a worker on the database holding two tasks: the one whose command ends within
    /// `--grace` completes, the other's command is killed and its task handed back unspent.
    @Test(.timeLimit(.minutes(2)))
    func sigtermFinishesWhatEndsWithinTheGraceAndHandsTheRestBack() async throws {
        #expect(try await cli.onDatabase("enqueue", "--type", "quick").status == 0)
        #expect(try await cli.onDatabase("enqueue", "--type", "slow").status == 0)
        let exec = #"if [ "$PRISMQ_TASK_TYPE" = quick ]; then sleep 1.5; else sleep 67; fi; echo '{}'"#
        let running = try worker("graceful", ["--concurrency", "2", "--grace", "5"], exec: exec)
        let store = try SQLiteStore(path: cli.database)
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let (quick, slow) = (try await store.task(id: 1), try await store.task(id: 2))
                return quick.status == .running && slow.status == .running
            })
        running.process.terminate()
        #expect(await running.wait().status == 0)

        #expect(try await store.task(id: 1).status == .completed, "the quick command ended within the grace")
        let slow = try await store.task(id: 2)
        #expect(slow.status == .queued && slow.attempts == 0, "\(slow)")
        #expect(try await store.logs(taskID: 2).map(\.event) == [.enqueued, .claimed, .released])
        #expect(
            await eventually(timeout: .seconds(10), every: .milliseconds(50)) {
                !Self.processExists(matching: "sleep 67")
            }, "killed")
    }

    static func processExists(matching text: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard Int(entry) != nil,
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return false }
            let commandLine = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return commandLine.contains(text) && !commandLine.contains("prismq")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aWorkersMetricsPortShowsItsTasksAsTheyFlow() async throws {
        _ = try SQLiteStore(path: cli.database)
        let process = try worker("measured", ["--metrics-port", "0", "--type", "job"], exec: "cat >/dev/null")
        var url = ""
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                let log = String(decoding: FileManager.default.contents(atPath: process.err) ?? Data(), as: UTF8.self)
                url =
                    log.split(separator: " ").last { $0.hasPrefix("http://127.0.0.1:") }.map {
                        $0.trimmingCharacters(in: .whitespacesAndNewlines)
                    } ?? ""
                return !url.isEmpty
            }, "the worker prints where its metrics are")
        func scrape() async throws -> String {
            let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
            return String(decoding: data, as: UTF8.self)
        }
        #expect(try await !scrape().contains(#"prismq_tasks_completed_total{type="job"}"#))
        for _ in 0..<3 {
            #expect(try await cli.onDatabase("enqueue", "--type", "job").status == 0)
        }
        #expect(
            try await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                try await scrape().contains(#"prismq_tasks_completed_total{type="job"} 3"#)
            })
        let text = try await scrape()
        #expect(text.contains(#"prismq_tasks_claimed_total{type="job"} 3"#), "\(text)")
        #expect(text.contains(#"prismq_queue_depth{status="completed"} 3"#), "\(text)")
        process.process.terminate()
        #expect(await process.wait().status == 0)
    }
}
