import ArgumentParser
import Foundation
import PrismQ
import PrismQSQLite
import PrismQTerminal
import PrismQWire

/// `prismq backup`: an online backup of a SQLite queue.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write an online backup of a SQLite queue while producers and workers go on.",
        discussion: """
            The backup is the queue as it was when the command started: SQLite's backup API \
            reads one snapshot on a read-only connection, which never blocks writers and never \
            changes the queue (no schema migration). It is written owner-only (0600) under \
            a temporary name, checked (PRAGMA integrity_check, a PrismQ schema) and renamed to \
            FILE when complete, so a crash never leaves a partial backup under that name. It is \
            one self-contained file: 'prismq restore --from FILE' puts it back. On PostgreSQL use \
            pg_dump.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The backup file to write.")
    var to: String

    @Flag(name: .long, help: "Replace FILE when it exists (by default an existing FILE is an error).")
    var replace = false

    func run() async throws {
        try await reportingErrors { () async throws(QueueError) in
            let path = try store.sqlitePath(
                for: "backup", onPostgres: "Use pg_dump, for example: pg_dump --schema=NAME --format=custom DATABASE.")
            let (summary, seconds) = try await showingProgress { progress async throws(QueueError) in
                try await SQLiteBackup.backup(path: path, to: to, replacing: replace, progress: progress)
            }
            report(summary, verb: "backup", path: to, seconds: seconds, json: store.json)
        }
    }
}

/// `prismq restore`: puts a backup in place of a stopped queue's file.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place of a SQLite queue's file (stop its servers and workers first).",
        discussion: """
            The backup is checked and copied beside the queue's file first, so an unusable \
            backup changes nothing. Restore refuses while another process (a 'prismq serve' or \
            'prismq worker') has the queue open. The queue file keeps its owner and mode; its old \
            content is kept beside it as <queue file>.replaced-<UTC time>, never deleted. On \
            PostgreSQL use pg_restore.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The backup to restore (a file 'prismq backup' wrote).")
    var from: String

    func run() async throws {
        try await reportingErrors { () async throws(QueueError) in
            let path = try store.sqlitePath(
                for: "restore", onPostgres: "Use pg_restore (or psql for a plain-text dump) into the schema.")
            let (restored, seconds) = try await showingProgress { progress throws(QueueError) in
                try SQLiteRestore.restore(from: from, to: path, progress: progress)
            }
            if store.json {
                var writer = summaryJSON(restored.restored, path: path, seconds: seconds)
                writer.add("from", from)
                if let kept = restored.replacedKeptAt { writer.add("replaced_kept_at", kept) }
                if let tasks = restored.replacedTasks { writer.add("replaced_tasks", tasks) }
                printLine(writer.json)
                return
            }
            report(restored.restored, verb: "restore", path: path, seconds: seconds, json: false)
            if let kept = restored.replacedKeptAt {
                let held = restored.replacedTasks.map { "\($0) tasks" } ?? "a file SQLite could not read"
                printLine("It replaced \(held); that file is kept as \(kept).")
            }
        }
    }
}

/// Runs a copy with a bar of its pages on a terminal: its result, and the seconds it took.
private func showingProgress<T>(
    _ copy: (@escaping @Sendable (CopyProgress) -> Void) async throws(QueueError) -> T
) async throws(QueueError) -> (T, Double) {
    let start = ContinuousClock.now
    let bar = ProgressLine(total: 0, unit: "pages")
    let result = try await copy { step in bar.update(step.copiedPages, of: step.totalPages) }
    bar.finish()
    return (result, (ContinuousClock.now - start).inSeconds)
}

/// Prints what a backup or a restore wrote, as a sentence or (`json`) a JSON object.
private func report(_ summary: QueueFileSummary, verb: String, path: String, seconds: Double, json: Bool) {
    if json {
        printLine(summaryJSON(summary, path: path, seconds: seconds).json)
    } else {
        printLine(
            "\(verb): \(path): \(summary.tasks) tasks, schema version \(summary.schemaVersion), "
                + "\(Formatting.bytes(summary.bytes)), integrity ok (\(String(format: "%.1f", seconds)) s)")
    }
}

private func summaryJSON(_ summary: QueueFileSummary, path: String, seconds: Double) -> JSONWriter {
    var writer = JSONWriter()
    writer.add("path", path)
    writer.add("tasks", summary.tasks)
    writer.add("schema_version", summary.schemaVersion)
    writer.add("pages", summary.pages)
    writer.add("bytes", Int(summary.bytes))
    writer.add("seconds", seconds)
    return writer
}
