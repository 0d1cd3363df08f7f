import Foundation
import GRDB
import PrismQ
import Synchronization

/// A ``PrismQ/QueueStore`` (every role) in one SQLite file, on a GRDB `DatabasePool` in WAL mode: one writer,
/// a pool of readers, the PRAGMA profile of its configuration on every connection.
///
/// Open one store per file per process; several processes may share the file.
public final class SQLiteStore: QueueStore {
    /// The database file.
    public let path: String
    /// How the store was opened.
    public let configuration: SQLiteConfiguration

    /// The connection pool (`package` for the benchmark's raw-SQLite baseline).
    package let pool: DatabasePool
    let groupCommit: GroupCommit
    let commitWatcher: CommitWatcher
    /// The file opened, which writes and readiness checks verify is still at ``path``.
    let file: FileIdentity?
    let recorder: PoolStatisticsRecorder
    /// The payload fields with a generated column and an index in this database.
    let indexedPayloadFields: Set<String>
    /// Whether the weighted-random index is known to exist (it is made on first use).
    let weightedRandomIndexReady: Atomic<Bool>

    /// Opens (and creates, with its directory) the database at `path` and brings its schema
    /// up to date.
    ///
    /// A new file and new directories are their owner's only (modes 0600 and 0700, whatever
    /// the umask; SQLite gives the `-wal` and `-shm` files the database file's mode). An
    /// existing file keeps its mode. An existing SQLite file that is not a PrismQ queue is
    /// refused before anything is written to it.
    ///
    /// - Throws: `storage` with a sentence naming the file when the directory cannot be made,
    ///   the file is not a SQLite database, is another application's SQLite database (which
    ///   is left unchanged), is read-only, or has a newer schema.
    public init(path: String, configuration: SQLiteConfiguration = SQLiteConfiguration()) throws(QueueError) {
        guard configuration.maxReaders >= 1 else {
            throw QueueError(.invalidArgument, "maxReaders must be at least 1.")
        }
        for field in configuration.indexedPayloadFields {
            try PayloadMatch.validate(field: field)
        }
        self.path = path
        self.configuration = configuration
        self.recorder = PoolStatisticsRecorder(maxReaders: configuration.maxReaders)
        try Self.prepareLocation(path)
        try Self.refuseForeignDatabase(path, busyTimeout: configuration.profile.busyTimeout)

        var grdb = Configuration()
        grdb.label = "prismq"
        grdb.busyMode = .timeout(configuration.profile.busyTimeout.inSeconds)
        grdb.maximumReaderCount = configuration.maxReaders
        grdb.foreignKeysEnabled = true
        let statements = configuration.profile.statements
        grdb.prepareDatabase { db in
            try db.execute(sql: statements)
        }
        do {
            pool = try DatabasePool(path: path, configuration: grdb)
            let fields = configuration.indexedPayloadFields
            let (fieldsIndexed, weightedIndex) = try pool.writeWithoutTransaction { db in
                try db.execute(sql: statements)
                try SQLiteSchema.migrate(db, path: path)
                try db.inTransaction(.immediate) {
                    try PayloadIndexes.ensure(fields, db: db)
                    return .commit
                }
                return (try PayloadIndexes.indexedFields(db), try SQLiteSchema.hasWeightedRandomIndex(db))
            }
            indexedPayloadFields = fieldsIndexed
            weightedRandomIndexReady = Atomic(weightedIndex)
        } catch {
            throw QueueError.translating(error, path: path)
        }
        let checkpointThreshold = configuration.profile.walAutocheckpoint
        file = FileIdentity(path: path)
        groupCommit = GroupCommit(
            pool: pool,
            checkpointer: checkpointThreshold > 0 ? Checkpointer(path: path, threshold: checkpointThreshold) : nil,
            file: file
        )
        commitWatcher = CommitWatcher(path: path)
    }

    /// Makes the file's directory (0700) and the empty file (0600) when they are missing, and
    /// refuses a file nobody may write.
    private static func prepareLocation(_ path: String) throws(QueueError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw QueueError(.storage, "Cannot create the database \(path): \(directory) is not a directory.")
            }
        } else {
            do {
                // The attributes apply to every directory made, whatever the umask.
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw QueueError(.storage, "Cannot create the directory \(directory) for the database \(path).")
            }
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                throw QueueError(.storage, "The database path \(path) is a directory.")
            }
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let permissions = (attributes?[.posixPermissions] as? NSNumber)?.intValue ?? 0o644
            guard permissions & 0o222 != 0, FileManager.default.isWritableFile(atPath: path) else {
                throw QueueError(.storage, "The database \(path) is read-only; PrismQ needs to write it.")
            }
        } else {
            try createOwnerOnlyFile(path)
        }
    }

    /// Creates the empty file with mode 0600 before SQLite opens it (SQLite would create it
    /// 0644 less the umask); another process creating it first is fine.
    private static func createOwnerOnlyFile(_ path: String) throws(QueueError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            guard code == EEXIST else {
                throw QueueError(.storage, "Cannot create the database \(path): \(String(cString: strerror(code))).")
            }
            return
        }
        // The umask may have cleared owner bits of 0600: set the mode exactly.
        _ = fchmod(descriptor, 0o600)
        close(descriptor)
    }

    /// Refuses an existing SQLite file that holds something other than a PrismQ queue, before
    /// anything writes to it: the check runs on a read-only connection without the PRAGMA
    /// profile (whose `journal_mode = WAL` would change the file).
    private static func refuseForeignDatabase(_ path: String, busyTimeout: Duration) throws(QueueError) {
        guard fileSize(path) > 0 else { return }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(busyTimeout.inSeconds)
        let isQueue: Bool
        do {
            let connection = try DatabaseQueue(path: path, configuration: readOnly)
            isQueue = try connection.read(SQLiteSchema.isQueueOrEmpty)
            try connection.close()
        } catch {
            throw QueueError.translating(error, path: path)
        }
        guard isQueue else {
            throw QueueError(
                .storage,
                "The file \(path) is not a PrismQ queue but another application's SQLite database; "
                    + "PrismQ leaves it unchanged."
            )
        }
    }

    /// Calls `onCommit` within about a millisecond of each commit while commits keep coming
    /// (within 50 ms once the file has been quiet): see ``CommitWatcher``.
    public func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        commitWatcher.subscribe(onCommit)
    }

    /// The connection pool's counters.
    public var statistics: StoreStatistics { recorder.snapshot }

    /// Runs `body` atomically in a savepoint of an `IMMEDIATE` write transaction that concurrent
    /// writes share (group commit), and returns after that transaction committed; an error
    /// rolls back `body`'s changes only.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueError) -> T {
        recorder.beginWrite()
        defer { recorder.endWrite() }
        do {
            return try await groupCommit.write(body)
        } catch {
            return try rethrow(error)
        }
    }

    /// Runs `body` on a reader, in one snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueError) -> T {
        recorder.beginRead()
        defer { recorder.endRead() }
        do {
            return try await pool.read(body)
        } catch {
            return try rethrow(error)
        }
    }

    /// Runs a short read (an indexed lookup of a row or two) on a reader, on the calling thread:
    /// the hop to a reader's Dispatch queue and back costs a short read more than the read
    /// itself. Only while a reader is surely free: a thread of the cooperative pool must never
    /// wait for one (the async reads holding them give them back on that pool), so a busy pool
    /// sends the read through ``read(_:)``. Anything that may scan goes through ``read(_:)``.
    func pointRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueError) -> T {
        guard recorder.beginReadWithoutWaiting() else { return try await read(body) }
        defer { recorder.endRead() }
        // A synchronous function, so that GRDB's synchronous read is the one called.
        func readHere() throws -> T { try pool.read(body) }
        do {
            return try readHere()
        } catch {
            return try rethrow(error)
        }
    }

    private func rethrow<T>(_ error: any Error) throws(QueueError) -> T {
        let translated = QueueError.translating(error, path: path)
        if translated.code == .busy || translated.code == .storage {
            recorder.recordError()
        }
        throw translated
    }

    /// The current time in milliseconds, from the configured clock.
    var nowMillis: Int64 { TaskRow.millis(configuration.clock.now()) }
}

extension QueueStore where Self == SQLiteStore {
    /// A SQLite store at `path` (see ``SQLiteStore/init(path:configuration:)``).
    public static func sqlite(
        path: String, configuration: SQLiteConfiguration = SQLiteConfiguration()
    )
        throws(QueueError) -> SQLiteStore
    {
        try SQLiteStore(path: path, configuration: configuration)
    }
}
