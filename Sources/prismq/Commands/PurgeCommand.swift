import ArgumentParser
import Foundation
import PrismQ
import PrismQTerminal
import PrismQWire

/// `prismq purge`: a one-off deletion of old finished tasks.
struct PurgeCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete finished tasks older than a duration, with their history.",
        discussion: """
            Deletes the tasks in STATUS (completed, dead or cancelled) that finished more than \
            --older-than ago, of one --type or of every type, in transactions of 1000 so that \
            writers never wait long; queued and running tasks are never touched. --dry-run only \
            counts them. The server's retention (prismq serve --retain) does this on a schedule.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "completed, dead or cancelled.")
    var status: String

    @Option(name: .customLong("older-than"), help: "Finished longer ago than this: 90s, 30m, 6h, 7d.")
    var olderThan: String

    @Option(name: .long, help: "Only tasks of this type.")
    var type: String?

    @Flag(name: .customLong("dry-run"), help: "Count what would be deleted; delete nothing.")
    var dryRun = false

    func input() throws(QueueError) -> (PurgeSelection, Duration) {
        let age = try Parsing.duration(olderThan, name: "older-than")
        let selection = PurgeSelection(
            status: try Parsing.status(status), finishedBefore: Date().addingTimeInterval(-age.inSeconds),
            types: type.map { .only($0) } ?? .allExcept([]))
        try selection.validate()
        return (selection, age)
    }

    func run(queue: TaskQueue, input: (PurgeSelection, Duration)) async throws(QueueError) {
        let (selection, age) = input
        let total = try await queue.countPurgeable(selection)
        var deleted = 0
        if !dryRun {
            let progress = ProgressLine(total: total, unit: "tasks")
            while true {
                let batch = try await queue.purge(selection, limit: 1000)
                deleted += batch
                progress.update(deleted)
                if batch < 1000 { break }
            }
            progress.finish()
        }
        let count = dryRun ? total : deleted
        if store.json {
            var writer = JSONWriter()
            writer.add("status", selection.status.rawValue)
            writer.add("older_than_seconds", age.inSeconds)
            writer.add("type", type)
            writer.add("dry_run", dryRun)
            writer.add("count", count)
            printLine(writer.json)
        } else {
            let what = "\(count) \(selection.status.rawValue) tasks\(type.map { " of type \($0)" } ?? "")"
            printLine(
                dryRun
                    ? "purge --dry-run: \(what) finished more than \(olderThan) ago; nothing deleted"
                    : "purge: deleted \(what) finished more than \(olderThan) ago")
        }
    }
}
