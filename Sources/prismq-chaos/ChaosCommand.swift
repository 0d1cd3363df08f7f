import ArgumentParser
import Foundation
import PrismQ
import PrismQPostgres
import PrismQSQLite

/// `prismq-chaos`: kills workers and the server at random while a queue is busy, then audits
/// the queue for PrismQ's promise: no acknowledged task lost, none completed twice, none stuck.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prismq-chaos",
        abstract: "Kill workers and the server at random under load, then audit the queue.",
        subcommands: [ChaosRun.self, ChaosAuditCommand.self, ChaosPoolWorker.self, ChaosProducer.self],
        defaultSubcommand: ChaosRun.self)
}

/// What the chaos run's tasks are and how its handlers treat them.
enum ChaosTask {
    /// The type every task of the run has.
    static let type = "chaos"

    /// The payload of task number `sequence`: one in 40 is poison, which every handler fails
    /// for good, so that the dead-letter path runs too.
    static func payload(_ sequence: Int) -> String {
        #"{"seq":\#(sequence),"poison":\#(sequence % 40 == 7)}"#
    }

    /// Whether a payload is poison.
    static func isPoison(_ payload: String) -> Bool {
        payload.contains(#""poison":true"#)
    }

    /// The `--exec` command of the command-running workers: fails poison for good (exit 65),
    /// else works a little and appends its effect line (task, attempt, kind) to `$EFFECTS`.
    static let command = #"""
        payload=$(cat)
        case "$payload" in *'"poison":true'*) echo poison >&2; exit 65;; esac
        sleep 0.02
        printf '%s %s %s\n' "$PRISMQ_TASK_ID" "$PRISMQ_ATTEMPT" "$CHAOS_KIND" >> "$EFFECTS"
        """#
}

/// The queue at `--db`: a `postgres://` URL, or a SQLite file path.
enum ChaosStore {
    static func open(_ db: String) async throws -> TaskQueue {
        if db.hasPrefix("postgres://") || db.hasPrefix("postgresql://") {
            return TaskQueue(store: try await PostgresStore(configuration: try PostgresConfiguration(url: db)))
        }
        return TaskQueue(store: try SQLiteStore(path: db))
    }
}

/// A file that lines are appended to, each by one `write` (whole, even beside other processes
/// appending to it, and on disk once written, whatever happens to this process next).
struct AppendLog: Sendable {
    private let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ChaosFailure("Cannot open \(path) for appending.") }
    }

    func append(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}

/// Prints `text` on standard output at once (unbuffered, so a log file shows it as it happens).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Why a chaos run could not go on (not a broken promise: those are in the report).
struct ChaosFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
