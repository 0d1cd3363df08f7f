import ArgumentParser
import Foundation
import Logging
import PrismQ
import PrismQPostgres
import PrismQSQLite
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The parts of `prismq bench` that run other `prismq` processes on the bench's database:
/// `bench-worker`s and `serve`.
final class BenchProcesses: Sendable {
    /// The profile the processes open the database with.
    let profile: SQLitePragmaProfile
    private let storeErrors = Atomic<Int>(0)

    init(profile: SQLitePragmaProfile) {
        self.profile = profile
    }

    /// Errors the worker processes' stores counted (`busy` or `storage`), over every run.
    var storeErrorCount: Int { storeErrors.load(ordering: .relaxed) }

    /// This executable.
    static let executable: String =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

    /// Claim + complete of `tasks` no-op tasks by `workers` worker processes: the tasks wait
    /// (delayed) until every worker is registered and idle, then become ready at once; the
    /// time runs until the last one completed.
    func claimAndComplete(_ store: SQLiteStore, tasks: Int, workers count: Int) async throws -> Duration {
        try await claimAndComplete(
            TaskQueue(store: store), at: store.path, tasks: tasks, workers: count,
            makeReady: { try await SQLiteBaseline.makeQueuedReady(store) })
    }

    /// Claim + complete as above, on the queue at `location` (a worker's `--db`); `makeReady`
    /// makes the held-back tasks ready.
    func claimAndComplete(
        _ queue: TaskQueue, at location: String, tasks: Int, workers count: Int,
        makeReady: () async throws -> Void
    ) async throws -> Duration {
        try await BenchScenario.enqueue(tasks, into: queue, runAfter: Date().addingTimeInterval(3600))
        let workers = try startWorkers(count, at: location)
        defer { workers.forEach { $0.stop() } }
        try await waitForWorkers(count, on: queue)
        let start = ContinuousClock.now
        try await makeReady()
        try await waitUntilCompleted(tasks, on: queue)
        let elapsed = ContinuousClock.now - start
        for worker in workers { storeErrors.add(try await worker.finish(), ordering: .relaxed) }
        return elapsed
    }

    /// Enqueue→start latencies in milliseconds of `count` tasks enqueued at `rate` per second
    /// into an idle worker process (its handler returns when it started; the enqueue time
    /// rides in the payload).
    func crossProcessLatencies(_ store: SQLiteStore, rate: Int, count: Int) async throws -> [Double] {
        try await crossProcessLatencies(TaskQueue(store: store), at: store.path, rate: rate, count: count)
    }

    /// Enqueue→start latencies as above, on the queue at `location` (a worker's `--db`).
    func crossProcessLatencies(_ queue: TaskQueue, at location: String, rate: Int, count: Int) async throws -> [Double]
    {
        let workers = try startWorkers(1, at: location)
        defer { workers.forEach { $0.stop() } }
        try await waitForWorkers(1, on: queue)
        try await BenchLatency.offer(count, at: rate, to: queue)
        try await waitUntilCompleted(count, on: queue)
        storeErrors.add(try await workers[0].finish(), ordering: .relaxed)
        var latencies: [Double] = []
        var cursor: PageCursor?
        repeat {
            let page = try await queue.tasks(
                matching: TaskFilter(status: .completed), page: PageRequest(limit: 1000, cursor: cursor))
            for task in page.tasks {
                guard let sent = try? task.payload.decode(as: Double.self),
                    let started = try? task.result?.decode(as: Double.self)
                else { continue }
                latencies.append((started - sent) * 1000)
            }
            cursor = page.nextCursor
        } while cursor != nil
        return latencies
    }

    /// Waits until `count` tasks of the queue are completed, looking every 5 ms.
    private func waitUntilCompleted(_ count: Int, on queue: TaskQueue) async throws {
        while try await queue.stats().byStatus[.completed, default: 0] < count {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The CPU an idle worker process uses, in percent of one core, over `window`.
    func idleWorkerCPU(_ store: SQLiteStore, over window: Duration) async throws -> Double {
        let workers = try startWorkers(1, at: store.path)
        defer { workers.forEach { $0.stop() } }
        try await waitForWorkers(1, on: TaskQueue(store: store))
        try await Task.sleep(for: .milliseconds(500))  // past start-up
        let before = try workers[0].cpuSeconds()
        try await Task.sleep(for: window)
        let used = try workers[0].cpuSeconds() - before
        storeErrors.add(try await workers[0].finish(), ordering: .relaxed)
        return used / BenchCommand.seconds(window) * 100
    }

    /// The resident memory of `prismq serve` on the database once it runs, in MB: all of it,
    /// and its own (anonymous) part, without the mapped code of the shared libraries.
    func serveMemory(_ store: SQLiteStore) async throws -> (resident: Double, anonymous: Double) {
        let (server, _) = try await startServer(on: store)
        defer { server.stop() }
        // Let it settle: its first maintenance pass and metrics come right after start-up.
        try await Task.sleep(for: .seconds(1))
        return (try server.memoryMegabytes("VmRSS"), try server.memoryMegabytes("RssAnon"))
    }

    /// Starts `prismq serve` on the store's database (with `extra` options), on a free port of
    /// the loopback, and returns it with its port once it listens.
    func startServer(on store: SQLiteStore, _ extra: [String] = []) async throws -> (ChildProcess, port: Int) {
        let server = try ChildProcess(
            Self.executable, ["serve", "--db", store.path, "--profile", profile.name, "--port", "0"] + extra)
        // It prints "PrismQ serving http://127.0.0.1:PORT on …" once it listens.
        guard let line = await server.firstLine(),
            let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://") }),
            let port = url.split(separator: ":").last.flatMap({ Int($0) })
        else {
            server.stop()
            throw ValidationError("prismq serve did not start.")
        }
        return (server, port)
    }

    private func startWorkers(_ count: Int, at location: String) throws -> [ChildProcess] {
        try (0..<count).map { _ in
            // The location in the environment: a PostgreSQL URL's password stays out of `ps`.
            try ChildProcess(
                Self.executable, ["bench-worker", "--profile", profile.name],
                environment: ["PRISMQ_QUEUE_DB_PATH": location])
        }
    }

    /// Waits until `count` workers are registered and have looked for work.
    private func waitForWorkers(_ count: Int, on queue: TaskQueue) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await queue.workers().filter({ $0.state == .active }).count < count {
            guard ContinuousClock.now < deadline else { throw ValidationError("The worker processes did not start.") }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100))  // past their first (empty) claim
    }
}

/// A `prismq` child process of the bench: its stdout is read, and it is stopped with SIGTERM.
final class ChildProcess: Sendable {
    private let process: Process
    private let output: Pipe

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The first line the process printed (nil when it exited first).
    func firstLine() async -> String? {
        let handle = output.fileHandleForReading
        return await Task.detached {
            var bytes = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return nil }
                bytes.append(chunk)
                if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                    return String(decoding: bytes[..<newline], as: UTF8.self)
                }
            }
        }.value
    }

    /// The user and system CPU time the process used so far, from `/proc/PID/stat`.
    func cpuSeconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = Double(fields[11])! + Double(fields[12])!
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The context switches (voluntary and involuntary) of all the process's threads so far,
    /// from `/proc/PID/task/*/status` (threads that already ended are not counted).
    func contextSwitches() throws -> Int {
        let tasks = "/proc/\(process.processIdentifier)/task"
        var total = 0
        for thread in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let status = try? String(contentsOfFile: "\(tasks)/\(thread)/status", encoding: .utf8) else {
                continue  // ended meanwhile
            }
            for line in status.split(separator: "\n")
            where line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
                total += line.split(separator: "\t").last.flatMap { Int($0) } ?? 0
            }
        }
        return total
    }

    /// How many files (sockets among them) the process has open now, from `/proc/PID/fd`.
    func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count
    }

    /// A memory figure of the process in MB (`VmRSS`, `RssAnon`), from `/proc/PID/status`.
    func memoryMegabytes(_ field: String) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { throw ValidationError("No \(field) for process \(process.processIdentifier).") }
        return kilobytes / 1024
    }

    /// Stops the process gracefully and returns the store errors a `bench-worker` reports.
    func finish() async throws -> Int {
        stop()
        let handle = output.fileHandleForReading
        let text = await Task.detached { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }.value
        let report = text.split(separator: "\n").last.map(String.init) ?? ""
        guard let errors = report.split(separator: ":").last.flatMap({ Int($0.dropLast()) }) else {
            throw ValidationError("A worker process ended without its report: \(report)")
        }
        return errors
    }

    /// Sends SIGTERM (graceful shutdown), once.
    func stop() {
        if process.isRunning { process.terminate() }
    }
}

/// `prismq bench-worker`: a worker process of `prismq bench`, with no-op handlers.
package struct BenchWorkerCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bench-worker",
        abstract: "A worker process of prismq bench (started by it; not for direct use).",
        shouldDisplay: false
    )

    @Option(name: .long, help: "The database: a SQLite path or a postgres:// URL (default: $PRISMQ_QUEUE_DB_PATH).")
    var db: String?

    @Option(name: .long, help: "PRAGMA profile.")
    var profile: String = "balanced"

    /// The command with every default (ArgumentParser fills in the options).
    package init() {}

    package func run() async throws {
        guard let db = db ?? ProcessInfo.processInfo.environment["PRISMQ_QUEUE_DB_PATH"] else {
            throw ValidationError("Give --db or $PRISMQ_QUEUE_DB_PATH.")
        }
        let queue: TaskQueue
        var postgres: PostgresStore?
        if db.hasPrefix("postgres://") || db.hasPrefix("postgresql://") {
            postgres = try await PostgresStore(url: db, logger: quietLogger)
            queue = TaskQueue(store: postgres!)
        } else {
            var configuration = SQLiteConfiguration()
            configuration.profile = try SQLitePragmaProfile.named(profile)
            queue = TaskQueue(store: try SQLiteStore(path: db, configuration: configuration))
        }
        defer { postgres?.close() }
        let pool = WorkerPool(queue: queue, configuration: benchPoolConfiguration, logger: quietLogger)
        pool.register("bench") { _ in nil }
        pool.register("latency") { _ in try RawJSON(validating: String(Date().timeIntervalSince1970)) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: pool)], gracefulShutdownSignals: [.sigterm], logger: quietLogger
            )
        )
        try await group.run()
        print("{\"store_errors\":\(queue.statistics.errors)}")
    }
}
