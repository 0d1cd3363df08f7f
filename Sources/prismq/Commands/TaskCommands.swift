import ArgumentParser
import Foundation
import PrismQ
import PrismQTerminal
import PrismQWire

/// `prismq get ID`: one task and its history.
struct GetCommand: QueueCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a task and its history.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The task id.")
    var id: Int64

    func run(queue: TaskQueue, input: Void) async throws(QueueError) {
        let task = try await queue.task(id: id)
        if store.json {
            printLine(task.json())
            return
        }
        printLine(Formatting.taskDetail(task))
        let logs = try await queue.logs(taskID: id)
        printLine("\nhistory")
        printLine(
            Formatting.table(
                header: ["AT", "EVENT", "WORKER", "MESSAGE"],
                rows: logs.map {
                    [Formatting.time($0.at), $0.event.rawValue, $0.workerID ?? "-", Formatting.clip($0.message, 60)]
                }
            )
        )
    }
}

/// `prismq cancel ID`.
struct CancelCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a task.",
        discussion:
            "A queued task is cancelled at once; a running one is marked and ends cancelled when its worker stops."
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The task id.")
    var id: Int64

    func run(queue: TaskQueue, input: Void) async throws(QueueError) {
        let task = try await queue.cancel(id: id)
        if store.json {
            printLine(task.json())
        } else if task.status == .cancelled {
            printLine("Task \(id) cancelled.")
        } else {
            printLine("Task \(id) is running; cancellation requested.")
        }
    }
}

/// `prismq retry ID`.
struct RetryCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Re-queue a dead or cancelled task with a fresh attempt budget."
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The task id.")
    var id: Int64

    func run(queue: TaskQueue, input: Void) async throws(QueueError) {
        let task = try await queue.retry(id: id)
        printLine(store.json ? task.json() : "Task \(id) queued again (\(task.maxAttempts) attempts).")
    }
}

/// `prismq list`.
struct ListCommand: QueueCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks, newest first.")

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Only tasks in this state: queued, running, completed, failed, dead, cancelled.")
    var status: String?

    @Option(name: .long, help: "Only tasks of this type.")
    var type: String?

    @Option(
        name: .customLong("payload-field"),
        help: "Only tasks whose payload has FIELD=VALUE (VALUE as JSON, else as a string)."
    )
    var payloadField: String?

    @Option(name: .long, help: "Tasks per page, 1–1000.")
    var limit: Int = 100

    @Option(name: .long, help: "Continue from the cursor a previous page printed.")
    var cursor: String?

    func request() throws(QueueError) -> (TaskFilter, PageRequest) {
        let filter = TaskFilter(
            status: try status.map { text throws(QueueError) in try Parsing.status(text) }, type: type,
            payload: try payloadField.map { text throws(QueueError) in try PayloadMatch(parsing: text) }
        )
        let page = PageRequest(
            limit: limit, cursor: try cursor.map { text throws(QueueError) in try PageCursor(parsing: text) })
        try TaskValidation.validate(page)
        if let type { try TaskValidation.validateType(type) }
        return (filter, page)
    }

    func input() throws(QueueError) -> (TaskFilter, PageRequest) {
        try request()
    }

    func run(queue: TaskQueue, input: (TaskFilter, PageRequest)) async throws(QueueError) {
        let (filter, page) = input
        let result = try await queue.tasks(matching: filter, page: page)
        if store.json {
            printLine(result.json)
            return
        }
        printLine(result.tasks.isEmpty ? "No tasks." : Formatting.taskTable(result.tasks))
        if let next = result.nextCursor {
            printLine("More: --cursor \(next)")
        }
    }
}

/// `prismq stats`.
struct StatsCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show queue counts and throughput.",
        discussion: """
            With --watch it refreshes every --every seconds until interrupted: in place on a \
            terminal, else one report (with --json, one JSON object a line) after another.
            """)

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Refresh until interrupted.")
    var watch = false

    @Option(name: .long, help: "Seconds between refreshes with --watch.")
    var every: Double = 2

    func input() throws(QueueError) -> Duration {
        guard watch || every == 2 else { throw QueueError(.invalidArgument, "--every goes with --watch.") }
        guard every >= 0.1 || !every.isFinite else {
            throw QueueError(.invalidArgument, "--every must be at least 0.1 seconds.")
        }
        return try Parsing.seconds(every, name: "every", allowZero: false)
    }

    func run(queue: TaskQueue, input interval: Duration) async throws(QueueError) {
        let terminal = isatty(STDOUT_FILENO) == 1
        repeat {
            let stats = try await queue.stats()
            let report = store.json ? stats.json : Self.text(stats)
            if watch, terminal {
                // Home, clear the screen: the report replaces the last one.
                print("\u{1B}[H\u{1B}[2J" + report)
            } else {
                printLine(report)
            }
            if watch {
                if !store.json, !terminal { printLine("") }
                fflush(nil)
                try? await Task.sleep(for: interval)
            }
        } while watch && !Task.isCancelled
    }

    /// The report as a table by type and status, then ages, rates and workers.
    static func text(_ stats: QueueStats) -> String {
        let statuses = TaskStatus.allCases
        var rows = [["all"] + statuses.map { String(stats.byStatus[$0] ?? 0) }]
        for type in stats.byType.keys.sorted() {
            rows.append([type] + statuses.map { String(stats.byType[type]?[$0] ?? 0) })
        }
        func age(_ seconds: Double?) -> String { seconds.map { String(format: "%.1f s", $0) } ?? "nothing ready" }
        func recent(_ counts: RecentCounts) -> String {
            "\(counts.lastMinute) / \(counts.lastHour) / \(counts.lastDay)"
        }
        var lines = [
            Formatting.table(header: ["TYPE"] + statuses.map { $0.rawValue.uppercased() }, rows: rows),
            "",
            "oldest ready task: \(age(stats.oldestReadyAgeSeconds))",
            "completed: \(stats.completedLastMinute) last minute, \(stats.completedLastHour) last hour, "
                + "\(stats.completedLastDay) last day",
            "failed attempts: \(stats.failedLastMinute) last minute, \(stats.failedLastHour) last hour, "
                + "\(stats.failedLastDay) last day",
            "workers: \(stats.activeWorkers) active, \(stats.staleWorkers) stale",
        ]
        if !stats.activityByType.isEmpty {
            lines += [
                "",
                Formatting.table(
                    header: ["TYPE", "OLDEST READY", "COMPLETED 1M / 1H / 24H", "FAILED 1M / 1H / 24H"],
                    rows: stats.activityByType.sorted { $0.key < $1.key }.map { type, activity in
                        [
                            type, age(activity.oldestReadyAgeSeconds), recent(activity.completed),
                            recent(activity.failed),
                        ]
                    }),
            ]
        }
        return lines.joined(separator: "\n")
    }
}
