import Foundation
import PrismQ
import PrismQHarness
import PrismQPostgres
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The command line on a PostgreSQL queue: `--db postgres://…` in every command, many hosts
/// (servers and worker processes) sharing one queue, `serve`, and passwords kept out of every
/// message.
@Suite(
    "prismq on PostgreSQL", .timeLimit(.minutes(10)),
    .enabled(if: testPostgresURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct PostgresCLITests {
    let cli = CLIRunner()
    /// The test server's URL with a schema of this test's own.
    let url: String

    init() throws {
        url =
            try #require(testPostgresURL) + "?sslmode=disable&schema=cli_"
            + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    func openStore() async throws -> PostgresStore {
        try await PostgresStore(url: url)
    }

    @Test func twoServersAndFourWorkersShareAQueueExactlyOnceThroughAKilledWorkerAndServer() async throws {
        let added = try await cli.run(["enqueue", "--db", url, "--type", "t", "--payload", #"{"n":1}"#])
        #expect(added.status == 0, "\(added.stderr)")
        let listed = try await cli.run(["list", "--json", "--db", url])
        #expect((try? CLIRunner.object(listed.stdout)["tasks"] as? [Any])?.count == 1, "\(listed.stderr)")

        // Many hosts: two servers on the queue, each taking half of the tasks from producers.
        let (serverA, baseA) = try await cli.serve(database: url)
        let (serverB, baseB) = try await cli.serve(database: url)
        var running = [serverA, serverB]
        defer { running.forEach { if $0.process.isRunning { $0.process.terminate() } } }
        for (base, offset) in [(baseA, 0), (baseB, 500)] {
            for first in stride(from: 0, to: 500, by: 250) {
                let tasks = (first..<first + 250).map { #"{"type":"t","payload":\#(offset + $0)}"# }
                let (status, _) = try await CLIRunner.call(
                    "POST", base + "/queue/tasks/batch", #"{"tasks":[\#(tasks.joined(separator: ","))]}"#)
                #expect(status == 201)
            }
        }
        let store = try await openStore()
        defer { store.close() }
        let queue = TaskQueue(store: store)
        #expect(try await queue.stats().byType["t"]?[.queued] == 1001)

        // Workers on the database and workers through each server; one of each kind is killed.
        let options = ["--type", "t", "--concurrency", "3", "--lease", "1.5", "--exec", "cat >/dev/null"]
        let victim = try cli.start(["worker", "--db", url, "--worker-id", "victim"] + options)
        let others = try [
            cli.start(["worker", "--db", url, "--worker-id", "w1"] + options),
            cli.start(["worker", "--server", baseA, "--worker-id", "http-a"] + options),
        ]
        let throughB = try cli.start(["worker", "--server", baseB, "--worker-id", "http-b"] + options)
        running += [victim, throughB] + others

        let holding = try await eventually(timeout: .seconds(120), every: .milliseconds(50)) {
            let stats = try await queue.stats()
            let held = try await queue.workers().filter { ["victim", "http-b"].contains($0.id) }.map(\.currentTasks)
            return stats.byStatus[.completed, default: 0] >= 200 && held.count == 2 && held.allSatisfy { $0 > 0 }
        }
        #expect(holding, "the victims never held running tasks")
        kill(victim.process.processIdentifier, SIGKILL)
        kill(serverB.process.processIdentifier, SIGKILL)
        #expect(await victim.wait().status == SIGKILL)
        #expect(await serverB.wait().status == SIGKILL)
        throughB.process.terminate()
        _ = await throughB.wait()
        let finished = try await eventually(timeout: .seconds(180), every: .milliseconds(50)) {
            try await queue.stats().byStatus[.completed] == 1001
        }
        #expect(finished)
        for other in others { other.process.terminate() }
        for other in others { #expect(await other.wait().status == 0) }

        var tasks: [QueueTask] = []
        var page = PageRequest(limit: 500)
        repeat {
            let listed = try await queue.tasks(matching: TaskFilter(), page: page)
            tasks += listed.tasks
            page.cursor = listed.nextCursor
        } while page.cursor != nil
        #expect(tasks.count == 1001 && tasks.allSatisfy { $0.status == .completed }, "no task lost or stuck")
        var expired: [String: Int] = [:]
        for task in tasks where task.attempts > 1 {
            let logs = try await queue.logs(taskID: task.id)
            #expect(logs.filter { $0.event == .completed }.count == 1, "task \(task.id) completed once")
            for log in logs where log.event == .expired { expired[log.workerID ?? "", default: 0] += 1 }
        }
        #expect(expired["victim", default: 0] > 0, "the killed worker's leases expired and its tasks ran elsewhere")
        #expect(expired["http-b", default: 0] > 0, "so did those of the worker whose server was killed")
        let states = Dictionary(uniqueKeysWithValues: try await queue.workers().map { ($0.id, $0.state) })
        #expect(states["w1"] == .stopped && states["victim"] != .stopped)
    }

    @Test func serveRunsOnPostgresAndNamesItWithoutThePassword() async throws {
        let server = try cli.start(["serve", "--db", url, "--port", "0"])
        defer { server.process.terminate() }
        var banner = ""
        for _ in 0..<500 where !banner.contains("\n") {
            banner = String(decoding: FileManager.default.contents(atPath: server.out) ?? Data(), as: UTF8.self)
            try await Task.sleep(for: .milliseconds(20))
        }
        let base = try #require(banner.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init))
        let password = try #require(URLComponents(string: url)?.password)
        #expect(banner.contains("postgres://prismq@") && !banner.contains(password), "\(banner)")

        var request = URLRequest(url: URL(string: base + "/queue/tasks")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"type":"job","payload":{"a":[1,2]}}"#.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (_, created) = try await URLSession.shared.data(for: request)
        #expect((created as? HTTPURLResponse)?.statusCode == 201)
        let (health, _) = try await URLSession.shared.data(from: URL(string: base + "/health")!)
        let text = String(decoding: health, as: UTF8.self)
        #expect(text.contains("\"ok\"") && !text.contains(password), "\(text)")
        let store = try await openStore()
        defer { store.close() }
        #expect(try await TaskQueue(store: store).stats().byType["job"]?[.queued] == 1)
    }

    @Test func taskCommandsNeverSeeTheDatabasePassword() async throws {
        let password = try #require(URLComponents(string: url)?.password)
        let environment = ProcessInfo.processInfo.environment.merging([
            "PRISMQ_QUEUE_DB_PATH": url, "COPY_OF_PASSWORD": password, "PRISMQ_TEST_MARKER": "visible",
        ]) { $1 }
        let enqueue = ["enqueue", "--type", "env", "--max-attempts", "1"]
        #expect(try await cli.run(enqueue, environment: environment).status == 0)
        let worker = try cli.start(["worker", "--exec", "env >&2; exit 65"], environment: environment)
        let store = try await openStore()
        defer { store.close() }
        let queue = TaskQueue(store: store)
        // Generous: a debug-built worker starting beside the whole suite on two cores.
        #expect(
            try await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                try await queue.task(id: 1).status == .dead
            })
        worker.process.terminate()
        #expect(await worker.wait().status == 0)
        let seen = try #require(try await queue.task(id: 1).lastError)
        #expect(seen.contains("PRISMQ_TASK_ID=1") && seen.contains("PRISMQ_TEST_MARKER=visible"), "\(seen)")
        #expect(!seen.contains(password) && !seen.contains("PRISMQ_QUEUE_DB_PATH"), "\(seen)")
    }

    @Test func aWrongPasswordIsAClearErrorThatNeverShowsIt() async throws {
        var components = try #require(URLComponents(string: url))
        components.password = "wrong-secret-7x2"
        let result = try await cli.run(["list", "--db", components.string!])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("prismq: ") && result.stderr.contains("PostgreSQL at"), "\(result.stderr)")
        #expect(!result.stderr.contains("wrong-secret-7x2"))
    }
}
