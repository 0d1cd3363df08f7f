import ArgumentParser
import PrismQBench

/// The `prismq` command line: manage a PrismQ queue.
@main
struct PrismQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prismq",
        abstract: "A durable task queue in one SQLite file, or in PostgreSQL for many machines.",
        discussion: """
            Every command takes --db LOCATION: a SQLite file path, sqlite:///abs/path, \
            sqlite:rel/path, postgres://user:password@host:port/database?schema=name, or \
            http(s)://host:port for a 'prismq serve'. Without it, \
            $PRISMQ_QUEUE_DB_PATH, else $XDG_DATA_HOME/prismq/queue.db, else \
            ~/.local/share/prismq/queue.db.
            """,
        subcommands: [
            EnqueueCommand.self, GetCommand.self, ListCommand.self, CancelCommand.self, RetryCommand.self,
            StatsCommand.self, WorkerCommand.self, WorkersCommand.self, ServeCommand.self, MigrateCommand.self,
            ExportCommand.self, ImportCommand.self, BackupCommand.self, RestoreCommand.self, CheckpointCommand.self,
            VacuumCommand.self, CheckCommand.self, PurgeCommand.self,
            BenchCommand.self,
            BenchWorkerCommand.self,
        ]
    )
}
