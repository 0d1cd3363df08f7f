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

/// `prismq check`: what state a SQLite queue's file is in, and what to do about its problems.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a SQLite queue's file: integrity, schema, sizes, stuck tasks, stale workers.",
        discussion: """
            Reads the file on a read-only connection and changes nothing, so it is safe while \
            servers and workers run. Prints a report, then one line per problem saying what to \
            do, and exits 1 when there is any: a file SQLite cannot read or that fails \
            PRAGMA integrity_check, a file that is no queue or has a newer schema, a task ready \
            for longer than --ready-age-limit, running tasks past their lease that nothing \
            sweeps, a log larger than the database and 64 MiB. Stale workers, free pages and \
            a retention no maintenance round has applied for a day are notes. On PostgreSQL use pg_amcheck, and prismq stats and prismq workers.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .customLong("ready-age-limit"), help: "How long a task may wait ready before it is a problem.")
    var readyAgeLimit = "1h"

    func run() async throws {
        var problems = 0
        try await reportingErrors { () async throws(QueueError) in
            var limits = QueueCheckLimits()
            limits.readyAge = try Parsing.duration(readyAgeLimit, name: "ready-age-limit")
            let path = try store.sqlitePath(
                for: "check", onPostgres: "Use pg_amcheck for the database's integrity, and prismq stats and workers.")
            let report = try QueueFileCheck.run(path: path, limits: limits)
            printLine(store.json ? Self.json(report) : Self.text(report))
            problems = report.problems.count
        }
        if problems > 0 { throw ExitCode(1) }
    }

    static func text(_ report: QueueCheckReport) -> String {
        var lines = ["check \(report.path)"]
        func line(_ label: String, _ text: String) {
            lines.append("  " + label.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + text)
        }
        line(
            "file",
            "\(Formatting.bytes(report.fileBytes)), log \(Formatting.bytes(report.walBytes))"
                + (report.pageSize > 0
                    ? ", free pages \(Formatting.bytes(report.freeBytes)) (page size \(report.pageSize))" : ""))
        if !report.journalMode.isEmpty {
            line(
                "settings",
                "journal_mode \(report.journalMode), auto_vacuum \(report.autoVacuum) (synchronous, cache and busy "
                    + "timeout are set by each process's --profile)")
        }
        if !report.integrity.isEmpty {
            line("integrity", report.integrity == ["ok"] ? "ok" : "\(report.integrity.count) findings")
        }
        if let version = report.schemaVersion {
            line("schema", "version \(version) (this PrismQ writes \(QueueFileCheck.currentSchemaVersion))")
        }
        if !report.tasks.isEmpty || report.schemaVersion != nil {
            line("tasks", TaskStatus.allCases.map { "\($0.rawValue) \(report.tasks[$0] ?? 0)" }.joined(separator: ", "))
            line(
                "ready",
                report.oldestReady.map {
                    "oldest: a '\($0.type)' task, ready for \(QueueFileCheck.duration($0.seconds))"
                }
                    ?? "nothing ready")
            line("leases", "\(report.expiredLeases) running tasks past their lease")
            line("workers", "\(report.staleWorkers.count) stale")
            line(
                "retention",
                report.retention.map { "\($0.rules) (applied \(Formatting.time($0.recordedAt)))" }
                    ?? "none applied yet")
        }
        for note in report.notes { lines.append("note: \(note.problem) What to do: \(note.advice)") }
        for problem in report.problems { lines.append("PROBLEM: \(problem.problem) What to do: \(problem.advice)") }
        lines.append(report.problems.isEmpty ? "ok: no problems" : "\(report.problems.count) problem(s)")
        return lines.joined(separator: "\n")
    }

    static func json(_ report: QueueCheckReport) -> String {
        func findings(_ list: [QueueCheckReport.Finding]) -> String {
            JSONText.array(
                list.map { finding in
                    var writer = JSONWriter()
                    writer.add("problem", finding.problem)
                    writer.add("advice", finding.advice)
                    return writer.json
                })
        }
        var tasks = JSONWriter()
        for status in TaskStatus.allCases { tasks.add(status.rawValue, report.tasks[status] ?? 0) }
        var writer = JSONWriter()
        writer.add("path", report.path)
        writer.add("ok", report.problems.isEmpty)
        writer.add("file_bytes", report.fileBytes)
        writer.add("wal_bytes", report.walBytes)
        writer.add("free_bytes", report.freeBytes)
        writer.add("page_size", report.pageSize)
        writer.add("journal_mode", report.journalMode)
        writer.add("auto_vacuum", report.autoVacuum)
        writer.add("schema_version", report.schemaVersion.map(Int64.init))
        writer.add("integrity", raw: JSONText.array(report.integrity.map(JSONText.quoted)))
        writer.add("tasks", raw: tasks.json)
        writer.add("oldest_ready_type", report.oldestReady?.type)
        writer.add("oldest_ready_seconds", report.oldestReady?.seconds)
        writer.add("expired_leases", report.expiredLeases)
        writer.add("stale_workers", raw: JSONText.array(report.staleWorkers.map { JSONText.quoted($0.id) }))
        writer.add("retention", report.retention?.rules)
        writer.add("retention_applied_at", report.retention?.recordedAt)
        writer.add("problems", raw: findings(report.problems))
        writer.add("notes", raw: findings(report.notes))
        return writer.json
    }
}
