import ArgumentParser
import Foundation
import PrismQ
import PrismQClient
import PrismQPostgres
import PrismQSQLite

/// The options that say which queue a command works on and how it prints.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            Where the queue is: a SQLite file path, sqlite:///abs/path, sqlite:rel/path, \
            postgres://user:password@host:port/database?schema=name, or http(s)://host:port for a \
            'prismq serve' (see 'prismq --help' for the default).
            """)
    var db: String?

    @Option(name: .long, help: "PRAGMA profile: conservative, balanced, aggressive or durable.")
    var profile: String = "balanced"

    @Flag(name: .long, help: "Print JSON (the REST contract's shapes) instead of a table.")
    var json = false

    @Option(name: .long, help: "The same as --db with an http(s):// URL: work on a 'prismq serve' there.")
    var server: String?

    @Option(name: .long, help: "The server's bearer token, with an http(s) store (default: $PRISMQ_API_TOKEN).")
    var token: String?

    @Option(
        name: .customLong("index-payload-field"),
        help: "Index this top-level payload field for 'list --payload-field' (repeatable; kept in the database)."
    )
    var indexedPayloadFields: [String] = []

    /// Where the queue is: `--db` or `--server`, else `$PRISMQ_QUEUE_DB_PATH`, else the default
    /// file (see ``DatabaseLocation``).
    ///
    /// - Throws: `invalidArgument` for both options at once, a location that does not parse,
    ///   or a `--server` that is not an http(s) URL.
    func location(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(QueueError)
        -> StoreLocation
    {
        if let server {
            guard db == nil else { throw QueueError(.invalidArgument, "Give --db or --server, not both.") }
            let location = try StoreLocation(parsing: server)
            guard case .remote = location else {
                throw QueueError(.invalidArgument, "--server takes an http:// or https:// URL; '\(server)' is not one.")
            }
            return location
        }
        return try StoreLocation(parsing: db ?? DatabaseLocation.defaultLocation(environment: environment))
    }

    /// `--token`, else a non-empty `PRISMQ_API_TOKEN`, else none.
    var resolvedToken: String? {
        token ?? ProcessInfo.processInfo.environment[CommandRunner.tokenVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens the queue at ``location(environment:)``. With `mustExist`, a missing SQLite file is
    /// an error rather than a new empty queue (so a mistyped path does not go unnoticed).
    func openQueue(
        mustExist: Bool, configuration: TaskQueueConfiguration = TaskQueueConfiguration()
    ) async throws(QueueError) -> TaskQueue {
        var sqlite = SQLiteConfiguration()
        sqlite.profile = try SQLitePragmaProfile.named(profile)
        sqlite.indexedPayloadFields = indexedPayloadFields
        return try await location().openQueue(
            mustExist: mustExist, sqlite: sqlite, token: resolvedToken, configuration: configuration)
    }
}

extension StoreLocation {
    /// Opens the queue here: a SQLite file with `sqlite`'s settings (with `mustExist`, a
    /// missing file is an error rather than a new empty queue), a PostgreSQL schema (made when
    /// missing), or a remote server with `token`.
    func openQueue(
        mustExist: Bool, sqlite: SQLiteConfiguration = SQLiteConfiguration(), token: String? = nil,
        configuration: TaskQueueConfiguration = TaskQueueConfiguration()
    ) async throws(QueueError) -> TaskQueue {
        switch self {
        case .remote(let url):
            // The server checks sizes against its own limit, which may be larger than ours.
            var remote = configuration
            remote.limits.maxPayloadBytes = .max
            return TaskQueue(store: try RemoteStore(url: url, token: token), configuration: remote)
        case .sqlite(let path):
            if mustExist, !FileManager.default.fileExists(atPath: path) {
                throw QueueError(.storage, "There is no queue database at \(path).")
            }
            return TaskQueue(store: try .sqlite(path: path, configuration: sqlite), configuration: configuration)
        case .postgres(_, let postgres):
            return TaskQueue(store: try await PostgresStore(configuration: postgres), configuration: configuration)
        }
    }
}

/// Where the queue lives when no --db is given.
enum DatabaseLocation {
    /// `$PRISMQ_QUEUE_DB_PATH` (any location ``StoreLocation`` parses), else
    /// `$XDG_DATA_HOME/prismq/queue.db`, else `~/.local/share/prismq/queue.db`.
    static func defaultLocation(environment: [String: String]) -> String {
        if let path = environment["PRISMQ_QUEUE_DB_PATH"], !path.isEmpty {
            return path
        }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") {
            return data + "/prismq/queue.db"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/prismq/queue.db"
    }
}

/// A command that works on a queue: it reads its input, opens the store, runs, and reports a
/// ``QueueError`` as one sentence on stderr with a non-zero exit.
protocol QueueCommand: AsyncParsableCommand {
    /// What the command reads from its arguments (and standard input) before anything is opened.
    associatedtype Input = Void
    var store: StoreOptions { get }
    /// Whether the command creates the database when it is missing (`enqueue` and `worker` do).
    var createsDatabase: Bool { get }
    /// Reads and checks the arguments once, so bad input creates and changes nothing.
    func input() throws(QueueError) -> Input
    func run(queue: TaskQueue, input: Input) async throws(QueueError)
}

extension QueueCommand where Input == Void {
    func input() throws(QueueError) {}
}

extension QueueCommand {
    var createsDatabase: Bool { false }

    func run() async throws {
        try await runQueueCommand()
    }

    /// Reads the input, opens the queue and runs the command on it, reporting errors.
    func runQueueCommand() async throws {
        try await reportingErrors { () async throws(QueueError) in
            let input = try input()
            try await run(queue: try await store.openQueue(mustExist: !createsDatabase), input: input)
        }
    }
}

/// Runs a command's body, reporting a ``PrismQ/QueueError`` as one sentence on stderr and
/// exiting 3 for `notFound`, 4 for `conflict`, 1 for anything else.
func reportingErrors(_ body: () async throws(QueueError) -> Void) async throws {
    do {
        try await body()
    } catch {
        FileHandle.standardError.write(
            Data("prismq: \(error.message.isEmpty ? error.code.name : error.message)\n".utf8))
        throw ExitCode(error.code == .notFound ? 3 : error.code == .conflict ? 4 : 1)
    }
}

/// Writes a line to stdout.
func printLine(_ text: String) {
    print(text)
}
