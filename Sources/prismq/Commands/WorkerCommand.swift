import ArgumentParser
import Foundation
import Logging
import Metrics
import PrismQ
import PrismQPostgres
import PrismQServer
import PrismQTerminal
import PrismQWire
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `prismq worker`: run tasks by executing a command for each.
struct WorkerCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run tasks by executing a command for each one.",
        discussion: """
            CMD runs under /bin/sh once per task, with the payload on stdin and PRISMQ_TASK_ID, \
            PRISMQ_TASK_TYPE and PRISMQ_ATTEMPT in the environment. Exit 0 completes the task \
            (stdout, if it is JSON, becomes the result); exit 65 fails it for good (dead); any \
            other exit or a signal is a retryable failure, and the tail of stderr becomes the \
            error. PRISMQ_API_TOKEN and the --token value are left out of its environment. The \
            command is killed when the task's timeout passes or the task is cancelled. SIGTERM \
            or SIGINT stops the worker gracefully.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .customLong("type"), help: "A task type to run (repeat for several); none means every type.")
    var types: [String] = []

    @Option(name: .long, help: "How many tasks run at once.")
    var concurrency: Int = 4

    @Option(name: .long, help: "fifo, lifo, priority or weighted_random.")
    var strategy: String = "fifo"

    @Option(name: .long, help: "The command to run for each task.")
    var exec: String

    @Option(name: .long, help: "Seconds a claim's lease lasts (renewed while the command runs).")
    var lease: Double = 30

    @Option(name: .long, help: "Seconds a graceful stop waits for running commands.")
    var grace: Double = 10

    @Option(name: .customLong("worker-id"), help: "The id in the worker registry (default: host-pid-random).")
    var workerID: String?

    @Option(
        name: .customLong("metrics-port"),
        help: "Serve this worker's metrics at http://127.0.0.1:PORT/metrics (0 picks a free port).")
    var metricsPort: Int?

    @OptionGroup var log: LogOptions

    var createsDatabase: Bool { true }

    /// The metrics of this process, for `--metrics-port`.
    private static let metrics = PrometheusCollectorRegistry()

    func run() async throws {
        log.bootstrap()
        if metricsPort != nil {
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: Self.metrics))
        }
        try await runQueueCommand()
    }

    func input() throws(QueueError) -> WorkerPoolConfiguration {
        var configuration = WorkerPoolConfiguration()
        configuration.concurrency = concurrency
        configuration.strategy = try SchedulingStrategy(parsing: strategy)
        configuration.leaseDuration = try Parsing.seconds(lease, name: "lease", allowZero: false)
        configuration.shutdownGracePeriod = try Parsing.seconds(grace, name: "grace", allowZero: true)
        if let workerID { configuration.workerID = workerID }
        for type in types { try TaskValidation.validateType(type) }
        guard Set(types).count <= 100 else {
            throw QueueError(.invalidArgument, "A worker runs at most 100 types; leave out --type to run every type.")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw QueueError(.invalidArgument, "--metrics-port must be between 0 and 65535.")
        }
        guard !exec.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw QueueError(.invalidArgument, "--exec needs a command.")
        }
        try configuration.validate()
        return configuration
    }

    /// What task commands must never see: the API token, and the database URL and its password
    /// (also percent-encoded).
    var secrets: [String] {
        var secrets = store.token.map { [$0] } ?? []
        if case .postgres(let url, let postgres)? = try? store.location(), let password = postgres.password {
            // The URL as given (however it encodes the password), and the password itself.
            secrets += [url, password]
            secrets.append(password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? password)
        }
        return secrets
    }

    func run(queue: TaskQueue, input configuration: WorkerPoolConfiguration) async throws(QueueError) {
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "prismq.worker")
        let pool = WorkerPool(queue: queue, configuration: configuration, logger: logger)
        let runner = try CommandRunner(command: exec, hiding: secrets)
        defer { runner.removeScratch() }
        if types.isEmpty {
            pool.registerFallback { context in try await runner.run(context) }
        } else {
            for type in types {
                pool.register(type) { context in try await runner.run(context) }
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: pool)]
        if let metricsPort {
            let endpoint = try MetricsEndpoint.makeApplication(
                queue: queue, port: metricsPort, registry: Self.metrics, logger: logger,
                onRunning: { port in
                    FileHandle.standardError.write(
                        Data("prismq: worker metrics at http://127.0.0.1:\(port)/metrics\n".utf8))
                })
            services.append(.init(service: endpoint))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            )
        )
        let location = (try? store.location().description) ?? "?"
        let banner = "prismq: worker \(configuration.workerID) running on \(location)"
        FileHandle.standardError.write(Data((Formatting.escaped(banner) + "\n").utf8))
        do {
            try await group.run()
        } catch let error as QueueError {
            throw error
        } catch {
            throw QueueError(.storage, "The worker stopped: \(error).")
        }
    }
}

/// `prismq workers`: the worker registry.
struct WorkersCommand: QueueCommand {
    static let configuration = CommandConfiguration(commandName: "workers", abstract: "List the registered workers.")

    @OptionGroup var store: StoreOptions

    func run(queue: TaskQueue, input: Void) async throws(QueueError) {
        let workers = try await queue.workers()
        if store.json {
            var writer = JSONWriter()
            writer.add("workers", raw: JSONText.array(workers.map(\.json)))
            printLine(writer.json)
            return
        }
        guard !workers.isEmpty else { return printLine("No workers.") }
        printLine(
            Formatting.table(
                header: ["ID", "STATE", "TASKS", "HOST", "PID", "TYPES", "STRATEGY", "STARTED", "LAST HEARTBEAT"],
                rows: workers.map { worker in
                    [
                        worker.id, worker.state.rawValue, String(worker.currentTasks), worker.hostname ?? "-",
                        worker.pid.map { String($0) } ?? "-",
                        worker.capabilities.isEmpty ? "any" : worker.capabilities.joined(separator: ","),
                        worker.strategy ?? "-", Formatting.time(worker.startedAt),
                        Formatting.time(worker.lastHeartbeatAt),
                    ]
                }
            )
        )
    }
}
