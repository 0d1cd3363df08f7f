import ArgumentParser

/// The `prismq` command line: manage a PrismQ queue.
@main
struct PrismQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prismq",
        abstract: "A durable task queue in one SQLite file.",
        discussion: """
            Every command takes --db PATH; without it, $PRISMQ_QUEUE_DB_PATH, else \
            $XDG_DATA_HOME/prismq/queue.db, else ~/.local/share/prismq/queue.db.
            """,
        subcommands: [
            EnqueueCommand.self, GetCommand.self, ListCommand.self, CancelCommand.self, RetryCommand.self,
            StatsCommand.self, WorkerCommand.self, WorkersCommand.self, ServeCommand.self, BenchCommand.self,
            BenchWorkerCommand.self,
        ]
    )
}
