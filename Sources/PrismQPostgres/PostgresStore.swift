import Foundation
import Logging
import PostgresNIO
import PrismQ
import Synchronization

/// The queue in PostgreSQL, for many machines: workers and servers on several hosts share one
/// queue. Claims lock with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on
/// each other or take the same task; leases and delays run on the database's clock.
///
/// ```swift
/// let store = try await PostgresStore(url: "postgres://prismq:secret@db:5432/app")
/// let queue = TaskQueue(store: store)
/// ```
///
/// The store runs its own connection pool (postgres-nio's `PostgresClient`) until ``close()``.
public final class PostgresStore: QueueStore {
    /// The settings it was opened with.
    public let configuration: PostgresConfiguration
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let counters = Counters()
    private let closedConnections = ClosedConnectionGuard()
    let databaseClock = DatabaseClock()
    /// Wakes workers and long-polls on any host when a task becomes ready.
    let listener: ReadyListener
    /// The `LISTEN`/`NOTIFY` channel of the queue.
    var channel: String { listener.channel }

    /// Opens the queue at `url` (see ``PostgresConfiguration/init(url:)``).
    public convenience init(url: String, logger: Logger = Logger(label: "prismq.postgres")) async throws(QueueError) {
        try await self.init(configuration: PostgresConfiguration(url: url), logger: logger)
    }

    /// Connects, and makes or upgrades the queue's schema.
    ///
    /// - Throws: `busy` when the server cannot be reached, `storage` when it refuses the role (with the
    ///   server's reason), or the schema is newer than this code.
    public init(
        configuration: PostgresConfiguration, logger: Logger = Logger(label: "prismq.postgres")
    ) async throws(QueueError) {
        try PostgresConfiguration.validate(schema: configuration.schema)
        self.configuration = configuration
        self.logger = logger
        // The pool retries a failed connection quietly; a call that gets none fails on its own.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        var settings = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: Self.tls(configuration.tls)
        )
        settings.options.maximumConnections = configuration.maxConnections
        settings.options.connectTimeout = configuration.connectTimeout
        settings.options.additionalStartupParameters = Self.startupParameters(configuration)
        let client = PostgresClient(configuration: settings, backgroundLogger: background)
        self.client = client
        runner = Task { await client.run() }
        let listenerLogger = background
        listener = ReadyListener(channel: "prismq_" + configuration.schema.prefix(56), logger: background) {
            try await Self.connect(configuration, logger: listenerLogger)
        }
        do {
            let connection = try await Self.connect(configuration, logger: background)
            do {
                try await PostgresSchema.migrate(schema: configuration.schema, connection: connection, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            runner.cancel()
            throw translate(error)
        }
    }

    /// Opens a connection of its own (outside the pool): for migrations, so that a refused
    /// connection or a wrong password fails at once with the server's reason (the pool would
    /// keep retrying), and for `LISTEN`.
    private static func connect(
        _ configuration: PostgresConfiguration, logger: Logger
    ) async throws -> PostgresConnection {
        var settings = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database,
            tls: try connectionTLS(configuration.tls)
        )
        settings.options.connectTimeout = .milliseconds(TaskColumns.millis(configuration.connectTimeout))
        settings.options.additionalStartupParameters = startupParameters(configuration)
        return try await PostgresConnection.connect(configuration: settings, id: 0, logger: logger)
    }

    /// TLS for a connection of its own, as `mode` says (see ``tlsSettings(_:)``).
    package static func connectionTLS(
        _ mode: PostgresConfiguration.TLSMode
    ) throws -> PostgresConnection.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: tlsSettings(mode)))
        case .require, .verifyFull: .require(try NIOSSLContext(configuration: tlsSettings(mode)))
        }
    }

    /// What every connection sets as it opens: the schema to find the tables in, and its name.
    private static func startupParameters(_ configuration: PostgresConfiguration) -> [(String, String)] {
        [
            ("search_path", "\"\(configuration.schema)\""),
            ("application_name", String(configuration.applicationName.prefix(63))),
        ]
    }

    deinit {
        listener.stop()
        runner.cancel()
    }

    /// Whether this store is listening for ready tasks now (someone watches, and the `LISTEN`
    /// connection is open).
    @_spi(Testing) public var isListening: Bool { listener.isListening }

    /// Calls `onCommit` whenever a task becomes ready, through any store on this queue (`NOTIFY`).
    public func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        listener.subscribe(onCommit)
    }

    /// Closes the connections; calls made afterwards fail.
    public func close() {
        listener.stop()
        runner.cancel()
    }

    /// TLS as libpq does it: `prefer` and `require` encrypt without checking the certificate;
    /// `verify-full` checks it and the host name against the system's trusted roots.
    private static func tlsSettings(_ mode: PostgresConfiguration.TLSMode) -> TLSConfiguration {
        var settings = TLSConfiguration.makeClientConfiguration()
        if mode != .verifyFull { settings.certificateVerification = .none }
        return settings
    }

    private static func tls(_ mode: PostgresConfiguration.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(tlsSettings(mode))
        case .require, .verifyFull: .require(tlsSettings(mode))
        }
    }

    // MARK: Running statements

    /// Runs `body` in a transaction; `now` is the time every statement of it uses. With
    /// `announcing`, the transaction made tasks ready: listeners hear of it once it committed.
    @discardableResult
    func transaction<T: Sendable>(
        announcing: Bool = false, _ body: @escaping @Sendable (PostgresConnection, Int64) async throws -> T
    ) async throws(QueueError) -> T {
        counters.writes.add(1, ordering: .relaxed)
        return try await onConnection { [self] connection in
            let result = try await connection.withTransaction(logger: logger) { connection in
                try await body(connection, try await now(connection))
            }
            // Committed: the answer is the result; a notification lost here is covered by the
            // listeners' polls.
            if announcing { try? await announceReady(on: connection) }
            return result
        }
    }

    /// Tells every listener that tasks became ready (`NOTIFY`), in a transaction of its own.
    ///
    /// Not inside the transaction that made them ready: PostgreSQL holds a lock across the
    /// commit of every transaction that notifies, WAL flush included, so enqueues that notified
    /// would commit one at a time. A transaction that only notifies has written no WAL, so its
    /// commit does not wait for a flush and holds that lock only briefly.
    private func announceReady(on connection: PostgresConnection) async throws {
        var binds = PostgresBindings()
        binds.append(channel)
        try await connection.rows(AnnounceStatement(bindings: binds), logger)
    }

    /// Runs `body` on a connection, outside a transaction: for reads, and for writes of one
    /// statement (atomic by itself), which so save the `BEGIN` and `COMMIT` round trips.
    ///
    /// A write's statement commits when the server reaches the end of its message batch, after it
    /// has already sent the statement's rows; a server process ended in between rolls the write
    /// back although the rows arrived. So a write is only reported once a second statement on the
    /// same connection has answered, which the server can only do after that commit. With
    /// `announcing` (the write made tasks ready), that statement is the announcement.
    @discardableResult
    func read<T: Sendable>(
        writing: Bool = false, announcing: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection, Int64) async throws -> T
    ) async throws(QueueError) -> T {
        guard writing else {
            counters.reads.add(1, ordering: .relaxed)
            return try await onConnection { [self] connection in try await body(connection, try await now(connection)) }
        }
        counters.writes.add(1, ordering: .relaxed)
        return try await onConnection { [self] connection in
            let result = try await body(connection, try await now(connection))
            if announcing {
                try await announceReady(on: connection)
            } else {
                try await connection.rows(CommitProbeStatement(), logger)
            }
            return result
        }
    }

    /// Runs `body` on a pooled connection. A call that gets none within the connect timeout,
    /// while no other call got one in that time either (the server is down or refuses us),
    /// fails with `busy` (HTTP 503, try again) instead of waiting; a call that only waits its
    /// turn in a pool whose calls come and go keeps waiting. Once `body` has started it runs
    /// to its end.
    private func onConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(QueueError) -> T {
        let started = StartFlag()
        let timeout = configuration.connectTimeout
        counters.startWaiting(maxConnections: configuration.maxConnections)
        defer { counters.endWaiting(ifNotStarted: started) }
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { [client, counters, closedConnections] in
                    try await client.withConnection { connection in
                        // Either the call starts or the timeout fails it: never both.
                        guard started.begin() else { throw CancellationError() }
                        counters.connected()
                        defer { counters.finished() }
                        return try await closedConnections.run(on: connection) { try await body(connection) }
                    }
                }
                group.addTask { [server, counters] in
                    // A busy pool makes calls wait their turn: only when no call got a connection
                    // for a whole timeout (the server is gone, or every connection is stuck) are
                    // waiting calls failed.
                    while true {
                        try await Task.sleep(for: timeout)
                        if counters.sinceConnected >= timeout, started.giveUp() {
                            throw QueueError(
                                .busy,
                                "\(server) cannot be reached: no connection within \(timeout); try again shortly."
                            )
                        }
                        if started.hasBegun { return nil }
                    }
                }
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                }
                throw QueueError(.storage, "\(server): the call ended without an answer.")
            }
        } catch {
            let translated = translate(error)
            // A call given up by its caller (a pool stopping) is not the database failing.
            let cancelled = error is CancellationError || Task.isCancelled
            if !cancelled && (translated.code == .busy || translated.code == .storage) {
                counters.errors.add(1, ordering: .relaxed)
            }
            throw translated
        }
    }

    /// Now in milliseconds since 1970: the injected clock's, else the database server's (as
    /// ``DatabaseClock`` carries it forward, reading it again when its reading is stale).
    private func now(_ connection: PostgresConnection) async throws -> Int64 {
        if let clock = configuration.clock { return TaskColumns.millis(clock.now()) }
        if let now = databaseClock.now { return now }
        let asked = ContinuousClock.now
        let rows = try await connection.query(
            "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint", logger: logger
        ).collect()
        return databaseClock.record(try rows[0].decode(Int64.self), roundTrip: ContinuousClock.now - asked)
    }

    /// A `QueueError` for a failure of the database or the connection; never names the password.
    /// A connection that fails or cannot be made is `busy` (the call may be tried again), as are
    /// the server's conflicts that a retry resolves and its shutting down or starting up; any
    /// other error is `storage` (a wrong password, a refused statement, a closed store).
    func translate(_ error: any Error) -> QueueError {
        switch error {
        case let error as QueueError:
            return error
        case is ClosedConnectionGuard.ConnectionLost:
            return QueueError(.busy, "\(server) closed the connection; try again shortly.")
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError {
                return translate(inner)
            }
            return QueueError(.storage, "A transaction on \(server) failed.")
        case let error as PSQLError:
            if error.code == .server, let info = error.serverInfo {
                let state = info[.sqlState] ?? ""
                let message = info[.message] ?? "an error"
                if ["40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03"].contains(state) {
                    return QueueError(.busy, "\(server) is busy (\(message)); try again shortly.")
                }
                return QueueError(.storage, "\(server) failed: \(message) (SQLSTATE \(state)).")
            }
            if [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(
                error.code)
            {
                return QueueError(.busy, "\(server) cannot be reached (\(error.code)); try again shortly.")
            }
            return QueueError(.storage, "\(server) failed (\(error.code)).")
        default:
            return QueueError(.storage, "\(server) failed: \(type(of: error)).")
        }
    }

    /// The server and schema, for messages.
    var server: String { "PostgreSQL at \(configuration.host):\(configuration.port) (schema \(configuration.schema))" }

    /// Whether `now` in statements is the database server's time (as ``DatabaseClock`` carries
    /// it), not an injected clock's.
    var readsServerClock: Bool { configuration.clock == nil }

    /// Now for a caller outside a statement: the injected clock's, else this host's.
    var localNow: Int64 { TaskColumns.millis(configuration.clock?.now() ?? Date()) }

    /// The pool's counters and gauges: reads and writes share its `maxConnections`.
    public var statistics: StoreStatistics {
        StoreStatistics(
            readConnections: configuration.maxConnections, writeConnections: configuration.maxConnections,
            reads: counters.reads.load(ordering: .relaxed), writes: counters.writes.load(ordering: .relaxed),
            waits: counters.waits.load(ordering: .relaxed), errors: counters.errors.load(ordering: .relaxed),
            openConnections: closedConnections.openConnections, inUse: counters.running.load(ordering: .relaxed),
            waiting: counters.waiting.load(ordering: .relaxed)
        )
    }

    /// Whether a call started on its connection or gave up waiting for one: whichever comes
    /// first wins.
    private final class StartFlag: Sendable {
        private let state = Atomic(0)  // 0 waiting, 1 begun, 2 given up

        /// The call starts, unless it gave up.
        func begin() -> Bool { state.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged }

        /// The call gives up, unless it started.
        func giveUp() -> Bool { state.compareExchange(expected: 0, desired: 2, ordering: .relaxed).exchanged }

        /// Whether the call started.
        var hasBegun: Bool { state.load(ordering: .relaxed) == 1 }
    }

    private final class Counters: Sendable {
        let reads = Atomic(0)
        let writes = Atomic(0)
        let errors = Atomic(0)
        let waits = Atomic(0)
        /// Calls running on a connection now, and calls waiting for one.
        let running = Atomic(0)
        let waiting = Atomic(0)
        private let start = ContinuousClock.now
        /// When a call last got a connection, in milliseconds since ``start``.
        private let lastConnected = Atomic<Int64>(0)

        /// A call asks for a connection; it counts as a wait when the calls before it (running
        /// or waiting) already take every connection.
        func startWaiting(maxConnections: Int) {
            let ahead = waiting.add(1, ordering: .relaxed).oldValue + running.load(ordering: .relaxed)
            if ahead >= maxConnections { waits.add(1, ordering: .relaxed) }
        }

        /// A call ends: one that never got a connection no longer waits for one.
        func endWaiting(ifNotStarted started: StartFlag) {
            if !started.hasBegun { waiting.subtract(1, ordering: .relaxed) }
        }

        /// A call on a connection ended.
        func finished() {
            running.subtract(1, ordering: .relaxed)
        }

        /// A call got a connection.
        func connected() {
            waiting.subtract(1, ordering: .relaxed)
            running.add(1, ordering: .relaxed)
            lastConnected.store(Int64((ContinuousClock.now - start).inSeconds * 1000), ordering: .relaxed)
        }

        /// How long since a call last got a connection (since the store opened, if none has).
        var sinceConnected: Duration {
            ContinuousClock.now - start - .milliseconds(lastConnected.load(ordering: .relaxed))
        }
    }
}

extension PostgresConnection {
    /// Runs `query` and reads every row.
    @discardableResult
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    /// The tasks `query` returns (it selects ``TaskColumns/list``).
    func tasks(_ query: PostgresQuery, _ logger: Logger) async throws -> [QueueTask] {
        try await rows(query, logger).map(TaskColumns.decode)
    }
}

extension QueueStore where Self == PostgresStore {
    /// A PostgreSQL store at `url`: `TaskQueue(store: try await .postgres(url: "postgres://…"))`
    /// (see ``PostgresConfiguration/init(url:)``).
    public static func postgres(
        url: String, logger: Logger = Logger(label: "prismq.postgres")
    ) async throws(QueueError) -> PostgresStore {
        try await PostgresStore(url: url, logger: logger)
    }

    /// A PostgreSQL store with these settings (see ``PostgresStore/init(configuration:logger:)``).
    public static func postgres(
        configuration: PostgresConfiguration, logger: Logger = Logger(label: "prismq.postgres")
    ) async throws(QueueError) -> PostgresStore {
        try await PostgresStore(configuration: configuration, logger: logger)
    }
}
