import ArgumentParser
import Foundation
import PrismQ
import PrismQTerminal

/// `prismq migrate --from LOCATION --to LOCATION`: copies a whole queue between stores.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a whole queue to another store (SQLite to PostgreSQL, or back).",
        discussion: """
            Copies every task (all states, attempts, errors, results, history, idempotency keys, \
            ids) and the worker registry, in batches, then checks that both stores count the same \
            tasks in each state and exits non-zero when they do not. Stop producers and workers \
            first. Interrupted, it can be run again: tasks already copied are skipped.
            """
    )

    @Option(
        name: .long,
        help: "The queue to copy: a SQLite path or URL, or a postgres:// URL (default: $PRISMQ_MIGRATE_FROM).")
    var from: String?

    @Option(
        name: .long,
        help: """
            Where to copy it (made when missing): a SQLite path or URL, or a postgres:// URL \
            (default: $PRISMQ_MIGRATE_TO; a variable keeps a password out of the process list).
            """)
    var to: String?

    @Option(name: .long, help: "Tasks per transaction (1–10000).")
    var batch = 500

    func run() async throws {
        do {
            try await migrate()
        } catch {
            FileHandle.standardError.write(Data("prismq: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func migrate() async throws(QueueError) {
        guard (1...10_000).contains(batch) else {
            throw QueueError(.invalidArgument, "--batch must be between 1 and 10000.")
        }
        let environment = ProcessInfo.processInfo.environment
        guard let from = from ?? environment["PRISMQ_MIGRATE_FROM"], let to = to ?? environment["PRISMQ_MIGRATE_TO"]
        else {
            throw QueueError(.invalidArgument, "Give --from and --to (or $PRISMQ_MIGRATE_FROM and $PRISMQ_MIGRATE_TO).")
        }
        let (origin, destination) = (try StoreLocation(parsing: from), try StoreLocation(parsing: to))
        guard origin.description != destination.description else {
            throw QueueError(.invalidArgument, "--from and --to name the same queue (\(origin)).")
        }
        for location in [origin, destination] {
            if case .remote = location {
                throw QueueError(.invalidArgument, "migrate copies between SQLite and PostgreSQL stores, not servers.")
            }
        }
        let source = try await origin.openQueue(mustExist: true)
        let target = try await destination.openQueue(mustExist: false)
        let total = try await source.stats().byStatus.values.reduce(0, +)
        let progress = ProgressLine(total: total, unit: "tasks")
        var cursor: Int64 = 0
        var (seen, stored) = (0, 0)
        while true {
            let records = try await source.exportTasks(after: cursor, limit: batch)
            guard let last = records.last else { break }
            stored += try await target.importTasks(records)
            seen += records.count
            cursor = last.task.id
            progress.update(seen)
        }
        let workers = try await source.exportWorkers()
        try await target.importWorkers(workers)
        progress.finish()

        let (before, after) = (try await source.stats().byStatus, try await target.stats().byStatus)
        let counts = TaskStatus.allCases.map { "\($0) \(after[$0, default: 0])" }.joined(separator: ", ")
        let differing = TaskStatus.allCases.filter { before[$0, default: 0] != after[$0, default: 0] }
        guard differing.isEmpty else {
            let detail = differing.map { "\($0): \(before[$0, default: 0]) there, \(after[$0, default: 0]) here" }
            throw QueueError(
                .conflict,
                "The copy at \(destination) does not match \(origin) (\(detail.joined(separator: "; "))); "
                    + "was the source still in use, or the destination not empty?")
        }
        printLine(
            "Copied \(stored) tasks (\(seen - stored) were there already) and \(workers.count) workers "
                + "from \(origin) to \(destination); both hold \(counts).")
    }
}
