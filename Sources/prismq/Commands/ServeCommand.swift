import ArgumentParser
import Foundation
import Logging
import Metrics
import PrismQ
import PrismQSQLite
import PrismQServer
import PrismQTerminal
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `prismq serve`: the REST API on a queue, with the sweeper.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the queue over HTTP (the REST contract), with the expired-lease sweeper.",
        discussion: "SIGTERM or SIGINT stops it gracefully."
    )

    @OptionGroup var store: StoreOptions

    @OptionGroup var log: LogOptions

    @Option(name: .long, help: "The address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "The port (0 picks a free one).")
    var port: Int = 8080

    @Flag(name: .long, help: "Allow a non-loopback address without a token.")
    var insecure = false

    @Option(
        name: .customLong("allowed-host"),
        help: "Another host name the server answers to (repeatable), besides localhost, 127.0.0.1, [::1] and --host."
    )
    var allowedHosts: [String] = []

    @Option(name: .customLong("max-payload-bytes"), help: "The largest task payload accepted, in bytes.")
    var maxPayloadBytes: Int = 1 << 20

    @Option(
        name: .customLong("retention-days"),
        help: "Days every finished task is kept, whatever its status (0 keeps them forever); see --retain.")
    var retentionDays: Double?

    @Option(
        name: .long,
        help: """
            How long finished tasks are kept: STATUS=DURATION or TYPE:STATUS=DURATION (repeatable;             DURATION like 7d, or forever). Defaults: completed=7d, cancelled=7d, dead=30d.
            """)
    var retain: [String] = []

    @Option(
        name: .customLong("claim-wait-limit"), help: "The longest a long-poll claim waits, in seconds (at most 30).")
    var claimWaitLimit: Double = 30

    @Option(
        name: .customLong("max-claim-waiters"),
        help: "The most long-poll claims that wait at once; more get 503 busy with Retry-After.")
    var maxClaimWaiters: Int = 1024

    @Option(
        name: .customLong("max-pending-writes"),
        help: "The most writes that wait for the database at once; more get 503 busy with Retry-After.")
    var maxPendingWrites: Int = 1024

    @Option(
        name: .customLong("idle-timeout"),
        help: "Close a connection idle this many seconds (0: never); a request being answered is not idle.")
    var idleTimeout: Double = 75

    @Option(
        name: .customLong("backup-every"),
        help: "Take an online backup this often (90s, 30m, 6h, 1d; a bare number is seconds); SQLite only.")
    var backupEvery: String?

    @Option(name: .customLong("backup-dir"), help: "The directory --backup-every writes to (made 0700 when missing).")
    var backupDir: String?

    @Option(name: .customLong("backup-keep"), help: "How many of those backups to keep; older ones are deleted.")
    var backupKeep: Int = 7

    func run() async throws {
        log.bootstrap()
        OpenFileLimit.raiseToHardLimit()
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        server.token = store.resolvedToken
        server.insecure = insecure
        server.allowedHosts = allowedHosts
        server.maxClaimWaiters = maxClaimWaiters
        server.maxPendingWrites = maxPendingWrites
        server.claimWaitLimit = Duration(seconds: max(0, min(claimWaitLimit, 30)), rounding: .towardZero)
        do {
            guard idleTimeout == 0 || (0.001...86_400).contains(idleTimeout) else {
                throw QueueError(
                    .invalidArgument, "--idle-timeout must be 0 (never) or between 0.001 and 86400 seconds.")
            }
            server.idleTimeout = idleTimeout > 0 ? Duration(seconds: idleTimeout, rounding: .towardZero) : nil
            let location = try store.location()
            if case .remote = location {
                throw QueueError(
                    .invalidArgument, "serve works on a SQLite or PostgreSQL database, not on a server URL.")
            }
            server.databaseURL = location.description
            try server.validate()
            var retention = RetentionPolicy()
            if let retentionDays {
                guard retentionDays >= 0, retentionDays.isFinite, retentionDays <= 36500 else {
                    throw QueueError(.invalidArgument, "--retention-days must be between 0 and 36500.")
                }
                retention = .keeping(retentionDays > 0 ? .seconds(retentionDays * 86400) : nil)
            }
            for rule in retain {
                try Parsing.retentionRule(rule, into: &retention)
            }
            guard (1...(64 << 20)).contains(maxPayloadBytes) else {
                throw QueueError(.invalidArgument, "--max-payload-bytes must be between 1 and 64 MiB.")
            }
            let backupInterval = try backupEvery.map { text throws(QueueError) in
                try Parsing.duration(text, name: "backup-every")
            }
            guard (backupInterval == nil) == (backupDir == nil) else {
                throw QueueError(.invalidArgument, "--backup-every and --backup-dir go together.")
            }
            guard backupKeep >= 1 else { throw QueueError(.invalidArgument, "--backup-keep must be at least 1.") }
            if backupInterval != nil, case .postgres = location {
                throw QueueError(
                    .invalidArgument, "--backup-every works on a SQLite queue; back PostgreSQL up with pg_dump.")
            }
            var configuration = TaskQueueConfiguration()
            configuration.limits.maxPayloadBytes = maxPayloadBytes
            let queue = try await store.openQueue(mustExist: false, configuration: configuration)
            let logger = Logger(label: "prismq.server")
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let host = self.host
            let databaseURL = server.databaseURL
            var services: [any Service] = [
                Sweeper(queue: queue, logger: logger),
                MaintenanceScheduler(
                    queue: queue,
                    retention: retention, logger: logger
                ),
            ]
            if let backupInterval, let backupDir {
                guard let sqlite = queue.store as? SQLiteStore else {
                    throw QueueError(.invalidArgument, "--backup-every works on a SQLite queue.")
                }
                services.append(
                    BackupScheduler(
                        store: sqlite, directory: backupDir, interval: backupInterval, keep: backupKeep, logger: logger)
                )
            }
            let application = try QueueServer.makeApplication(
                queue: queue, configuration: server, metrics: registry,
                services: services,
                logger: logger,
                onRunning: { port in
                    FileHandle.standardOutput.write(
                        Data("PrismQ serving http://\(host):\(port) on \(databaseURL)\n".utf8))
                }
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: application)], gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch let error as QueueError {
            FileHandle.standardError.write(Data("prismq: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
