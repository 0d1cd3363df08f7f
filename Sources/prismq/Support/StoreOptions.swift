import ArgumentParser
import Foundation
import PrismQ
import PrismQSQLite

/// The options that say which queue a command works on and how it prints.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite database file (see 'prismq --help' for the default).")
    var db: String?

    @Option(name: .long, help: "PRAGMA profile: conservative, balanced, aggressive or durable.")
    var profile: String = "balanced"

    @Flag(name: .long, help: "Print JSON (the REST contract's shapes) instead of a table.")
    var json = false

    /// The database path: --db, else the environment's default.
    func databasePath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        db ?? DatabaseLocation.defaultPath(environment: environment)
    }

    /// Opens the queue on the chosen database.
    func openQueue() throws(QueueError) -> TaskQueue {
        var configuration = SQLiteConfiguration()
        configuration.profile = try SQLitePragmaProfile.named(profile)
        return TaskQueue(store: try .sqlite(path: databasePath(), configuration: configuration))
    }
}

/// Where the queue lives when no --db is given.
enum DatabaseLocation {
    /// `$PRISMQ_QUEUE_DB_PATH`, else `$XDG_DATA_HOME/prismq/queue.db`, else
    /// `~/.local/share/prismq/queue.db`.
    static func defaultPath(environment: [String: String]) -> String {
        if let path = environment["PRISMQ_QUEUE_DB_PATH"], !path.isEmpty {
            return path
        }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty {
            return data + "/prismq/queue.db"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/prismq/queue.db"
    }
}

/// A command that works on a queue: it opens the store, runs, and reports a ``QueueError`` as
/// one sentence on stderr with a non-zero exit.
protocol QueueCommand: AsyncParsableCommand {
    var store: StoreOptions { get }
    /// Checks the arguments before anything is opened, so bad input creates and changes nothing.
    func check() throws(QueueError)
    func run(queue: TaskQueue) async throws(QueueError)
}

extension QueueCommand {
    func check() throws(QueueError) {}

    func run() async throws {
        do {
            try check()
            try await run(queue: try store.openQueue())
        } catch {
            FileHandle.standardError.write(
                Data("prismq: \(error.message.isEmpty ? error.code.name : error.message)\n".utf8))
            throw ExitCode(error.code == .notFound ? 3 : error.code == .conflict ? 4 : 1)
        }
    }
}

/// Writes a line to stdout.
func printLine(_ text: String) {
    print(text)
}
