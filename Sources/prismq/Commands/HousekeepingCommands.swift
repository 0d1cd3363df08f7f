import ArgumentParser
import Foundation
import PrismQ
import PrismQSQLite
import PrismQTerminal
import PrismQWire

extension CheckpointMode: ExpressibleByArgument {}

/// `prismq checkpoint`: a WAL checkpoint of a SQLite queue, on demand.
struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Copy the write-ahead log back into a SQLite queue's file.",
        discussion: """
            passive copies what it can without waiting; full waits for writers; restart also \
            waits for readers; truncate also empties the log file. Exits 1 when another \
            connection kept it from finishing. PostgreSQL checkpoints by itself.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "passive, full, restart or truncate.")
    var mode: CheckpointMode = .passive

    func run() async throws {
        try await reportingErrors { () async throws(QueueError) in
            let queue = try store.sqliteStore(
                for: "checkpoint", onPostgres: "PostgreSQL checkpoints by itself; to force one, run CHECKPOINT in psql."
            )
            let report = try await queue.checkpoint(mode)
            if store.json {
                printLine(
                    flatJSON(
                        strings: [("mode", report.mode.rawValue)], flags: [("blocked", report.blocked)],
                        counts: [
                            ("wal_frames", report.walFrames), ("checkpointed_frames", report.checkpointedFrames),
                            ("wal_bytes_before", Int(report.walBytesBefore)),
                            ("wal_bytes_after", Int(report.walBytesAfter)),
                        ]))
            } else if report.walFrames == 0 && !report.blocked {
                printLine(
                    "checkpoint (\(report.mode.rawValue)): the log is all in the database; log "
                        + "\(Formatting.bytes(report.walBytesBefore)) → \(Formatting.bytes(report.walBytesAfter))")
            } else {
                printLine(
                    "checkpoint (\(report.mode.rawValue)): \(report.checkpointedFrames) of \(report.walFrames) log "
                        + "frames in the database; log \(Formatting.bytes(report.walBytesBefore)) → "
                        + "\(Formatting.bytes(report.walBytesAfter))")
            }
            if report.blocked {
                throw QueueError(
                    .busy,
                    "Another connection kept the checkpoint from finishing; run it again when the queue is quieter.")
            }
        }
    }
}

/// `prismq vacuum`: gives a SQLite queue's free pages back to the file system.
struct VacuumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vacuum",
        abstract: "Give a SQLite queue's free pages back to the file system.",
        discussion: """
            A full VACUUM rewrites the file and holds the write lock meanwhile (writers wait up \
            to their busy timeout), so run it when the queue is quiet; a file with \
            auto_vacuum=incremental gets an incremental vacuum instead. Exits 1 when another \
            connection kept the log from being folded back afterwards. PostgreSQL's autovacuum \
            does this there.
            """
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors { () async throws(QueueError) in
            let queue = try store.sqliteStore(
                for: "vacuum", onPostgres: "PostgreSQL's autovacuum does this; to force it, run VACUUM in psql.")
            let report = try await queue.vacuum()
            if store.json {
                printLine(
                    flatJSON(
                        flags: [("incremental", report.incremental), ("blocked", report.blocked)],
                        counts: [
                            ("pages_before", report.pagesBefore), ("pages_after", report.pagesAfter),
                            ("free_pages_before", report.freePagesBefore), ("free_pages_after", report.freePagesAfter),
                            ("bytes_before", Int(report.bytesBefore)), ("bytes_after", Int(report.bytesAfter)),
                            ("wal_bytes_after", Int(report.walBytesAfter)),
                        ]))
            } else {
                printLine(
                    "\(report.incremental ? "incremental vacuum" : "vacuum"): \(report.pagesBefore) pages "
                        + "(\(report.freePagesBefore) free) → \(report.pagesAfter) (\(report.freePagesAfter) free); file "
                        + "\(Formatting.bytes(report.bytesBefore)) → \(Formatting.bytes(report.bytesAfter))")
            }
            if report.blocked {
                throw QueueError(
                    .busy,
                    "The vacuum is done, but another connection kept the log from being folded back: the file shrinks "
                        + "once 'prismq checkpoint --mode truncate' gets through.")
            }
        }
    }
}

extension StoreOptions {
    /// The SQLite file of a file-only command; PostgreSQL (`onPostgres` says what to do there
    /// instead) and server URLs are refused.
    func sqlitePath(for command: String, onPostgres: String) throws(QueueError) -> String {
        switch try location() {
        case .sqlite(let path):
            return path
        case .postgres:
            throw QueueError(.invalidArgument, "\(command) works on a SQLite file. \(onPostgres)")
        case .remote:
            throw QueueError(
                .invalidArgument, "\(command) works on the queue's file: run it where the server's database is.")
        }
    }

    /// The SQLite store of a file-only command (see ``sqlitePath(for:onPostgres:)``): the file
    /// must exist.
    func sqliteStore(for command: String, onPostgres: String) throws(QueueError) -> SQLiteStore {
        let path = try sqlitePath(for: command, onPostgres: onPostgres)
        guard FileManager.default.fileExists(atPath: path) else {
            throw QueueError(.storage, "There is no queue database at \(path).")
        }
        var configuration = SQLiteConfiguration()
        configuration.profile = try SQLitePragmaProfile.named(profile)
        // No background checkpoints of its own to run into the one this command asks for.
        configuration.profile.walAutocheckpoint = 0
        return try SQLiteStore(path: path, configuration: configuration)
    }
}

/// A flat JSON object: the strings, then the flags, then the counts, each in order.
private func flatJSON(
    strings: [(String, String)] = [], flags: [(String, Bool)] = [], counts: [(String, Int)] = []
) -> String {
    var writer = JSONWriter()
    for (key, value) in strings { writer.add(key, value) }
    for (key, value) in flags { writer.add(key, value) }
    for (key, value) in counts { writer.add(key, value) }
    return writer.json
}
