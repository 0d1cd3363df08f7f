import ArgumentParser
import Foundation
import PrismQ
import PrismQTerminal
import PrismQWire

/// `prismq export`: the whole queue as JSON Lines.
struct ExportCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the whole queue as JSON Lines (every task with its history, and the workers).",
        discussion: """
            The first line is {"kind":"prismq-export","version":1}; then one line per task in id \
            order (the REST task object with lease_token, lease_seconds and logs added; payloads \
            and results byte for byte), one line per worker, and a last line \
            {"kind":"end","tasks":N,"workers":M}. 'prismq import' reads it into \
            any queue, SQLite or PostgreSQL. A file is written owner-only (0600) under a temporary \
            name and renamed when complete. Stop producers and workers first for a consistent copy.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The file to write (replaced when complete); standard output when left out.")
    var to: String?

    @Option(name: .long, help: "Tasks read per query (1–10000).")
    var batch = 1000

    func input() throws(QueueError) {
        guard (1...10_000).contains(batch) else { throw QueueError(.invalidArgument, "--batch must be 1 to 10000.") }
    }

    func run(queue: TaskQueue, input: Void) async throws(QueueError) {
        let output = try ExportOutput(path: to)
        defer { output.discard() }
        let total = try await queue.stats().byStatus.values.reduce(0, +)
        let progress = ProgressLine(total: total, unit: "tasks")
        try output.write(ExportLine.header(version: ExportLine.version).text)
        var (cursor, count) = (Int64(0), 0)
        while true {
            let records = try await queue.exportTasks(after: cursor, limit: batch)
            guard let last = records.last else { break }
            for record in records { try output.write(ExportLine.task(record).text) }
            (cursor, count) = (last.task.id, count + records.count)
            progress.update(count)
        }
        let workers = try await queue.exportWorkers()
        for worker in workers { try output.write(ExportLine.worker(worker).text) }
        try output.write(ExportLine.end(tasks: count, workers: workers.count).text)
        try output.commit()
        progress.finish()
        if let to {
            printLine("Exported \(count) tasks and \(workers.count) workers to \(to).")
        }
    }
}

/// `prismq import`: adds the tasks and workers of an export to a queue.
struct ImportCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add the tasks and workers of a 'prismq export' file to the queue.",
        discussion: """
            Tasks keep their ids, states, attempts, leases, errors, results, idempotency keys and \
            history. Each batch is one transaction. A task the queue already holds (same id, type, \
            creation time and payload) is skipped, so an interrupted import can be run again; a \
            queue that holds another task under an imported id or idempotency key is refused \
            (conflict, exit 4) before that batch changes anything. A file that does not start \
            with an export header of this version is refused before the queue is opened or \
            created. A malformed line stops the import with its line number; the batches before \
            it stay imported. A file without its end line, or whose counts differ from it (a \
            cut-off export), fails after its tasks are imported, and its workers are not.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The file to read; standard input when left out.")
    var from: String?

    @Option(name: .long, help: "Tasks per transaction (1–10000).")
    var batch = 500

    var createsDatabase: Bool { true }

    /// Opens the file and reads its header line, before the queue is opened: a file that is
    /// not an export (or of another version) is refused with nothing created.
    func input() throws(QueueError) -> LineReader {
        guard (1...10_000).contains(batch) else { throw QueueError(.invalidArgument, "--batch must be 1 to 10000.") }
        let reader = try LineReader(path: from)
        let source = from ?? "standard input"
        var line = try reader.next()
        while let blank = line, blank.allSatisfy(\.isWhitespace) { line = try reader.next() }
        guard let line else { throw QueueError(.invalidArgument, "\(source) is empty.") }
        guard case .header(let version)? = try? ExportLine(parsing: line) else {
            throw QueueError(.invalidArgument, "\(source) does not start with a prismq-export header line.")
        }
        guard version == ExportLine.version else {
            throw QueueError(.invalidArgument, "\(source) is export version \(version); this prismq reads version 1.")
        }
        return reader
    }

    func run(queue: TaskQueue, input reader: LineReader) async throws(QueueError) {
        let source = from ?? "standard input"
        let progress = ProgressLine(total: reader.size, unit: "bytes")
        var (records, workers) = ([TaskRecord](), [WorkerRecord]())
        var (read, stored) = (0, 0)
        func flush() async throws(QueueError) {
            stored += try await queue.importTasks(records)
            read += records.count
            records.removeAll(keepingCapacity: true)
            progress.update(reader.offset)
        }
        var taskLines = 0
        var end: (tasks: Int, workers: Int)?
        // The header was read by ``input()``.
        while let line = try reader.next() {
            let number = reader.lineNumber
            if line.allSatisfy(\.isWhitespace) { continue }
            let parsed: ExportLine
            do {
                parsed = try ExportLine(parsing: line)
            } catch {
                throw QueueError(.invalidArgument, "\(source), line \(number): \(error.message).")
            }
            switch parsed {
            case .header:
                throw QueueError(.invalidArgument, "\(source), line \(number): a second header line.")
            case _ where end != nil:
                throw QueueError(.invalidArgument, "\(source), line \(number): a line after the end line.")
            case .task(let record):
                records.append(record)
                taskLines += 1
                if records.count == batch { try await flush() }
            case .worker(let worker):
                workers.append(worker)
            case .end(let tasks, let workerCount):
                end = (tasks, workerCount)
            }
        }
        try await flush()
        guard let end, end.tasks == taskLines, end.workers == workers.count else {
            throw QueueError(
                .invalidArgument,
                "\(source) is cut off (it has no end line, or holds other counts than it says): its \(read) tasks "
                    + "were imported (\(read - stored) were there already), its workers were not.")
        }
        try await queue.importWorkers(workers)
        progress.finish()
        printLine(
            "Imported \(stored) tasks (\(read - stored) were there already) and \(workers.count) workers from \(source)."
        )
    }
}

/// Where an export goes: standard output, or a file written owner-only under a temporary name
/// and renamed into place by ``commit()``, so that an interrupted export never leaves a partial
/// file under the final name.
final class ExportOutput {
    private let handle: FileHandle
    private let path: String?
    private let temporary: String?
    private var pending = Data()

    init(path: String?) throws(QueueError) {
        self.path = path
        guard let path else {
            (handle, temporary) = (.standardOutput, nil)
            return
        }
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw QueueError(.storage, "Cannot write \(temporary): \(String(cString: strerror(errno))).")
        }
        (handle, self.temporary) = (FileHandle(fileDescriptor: descriptor, closeOnDealloc: true), temporary)
    }

    /// Adds one line.
    func write(_ line: String) throws(QueueError) {
        pending.append(contentsOf: line.utf8)
        pending.append(UInt8(ascii: "\n"))
        if pending.count >= 1 << 20 { try flush() }
    }

    /// Writes what is left and, for a file, syncs it and moves it to its name.
    func commit() throws(QueueError) {
        try flush()
        guard let path, let temporary else { return }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw QueueError(.storage, "Cannot write \(temporary): \(error.localizedDescription).")
        }
        guard rename(temporary, path) == 0 else {
            throw QueueError(.storage, "Cannot rename \(temporary) to \(path): \(String(cString: strerror(errno))).")
        }
    }

    /// Removes the temporary file of an export that did not complete.
    func discard() {
        if let temporary { unlink(temporary) }
    }

    private func flush() throws(QueueError) {
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw QueueError(.storage, "Cannot write the export: \(error.localizedDescription).")
        }
        pending.removeAll(keepingCapacity: true)
    }
}

/// Reads a file (or standard input) line by line, however long the lines.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    /// The file's size in bytes (0 for standard input).
    let size: Int
    /// Bytes read so far.
    private(set) var offset = 0
    /// Lines read so far: the number of the line ``next()`` returned last.
    private(set) var lineNumber = 0

    init(path: String?) throws(QueueError) {
        guard let file = path.map({ fopen($0, "r") }) ?? fdopen(STDIN_FILENO, "r") else {
            throw QueueError(
                .invalidArgument, "Cannot read \(path ?? "standard input"): \(String(cString: strerror(errno))).")
        }
        var status = stat()
        fstat(fileno(file), &status)
        let regular = (status.st_mode & S_IFMT) == S_IFREG
        (self.file, ownsFile, size) = (file, path != nil, regular ? Int(status.st_size) : 0)
    }

    deinit {
        if ownsFile { fclose(file) }
    }

    /// The next line without its newline; `nil` at the end.
    func next() throws(QueueError) -> String? {
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else {
            if ferror(file) != 0 {
                throw QueueError(.storage, "Cannot read the import: \(String(cString: strerror(errno))).")
            }
            return nil
        }
        offset += length
        lineNumber += 1
        let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
        let line = bytes.last == UInt8(ascii: "\n") ? bytes.dropLast() : bytes[...]
        return String(decoding: line, as: UTF8.self)
    }
}
