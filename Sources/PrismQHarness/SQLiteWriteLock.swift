import GRDB

/// SQLite's write lock on a database file, taken by a connection of its own (`BEGIN
/// IMMEDIATE`) and held until ``release()``: how a test makes every other writer of the file,
/// in this process or another, wait.
public final class SQLiteWriteLock {
    private let connection: DatabaseQueue

    /// Takes the write lock of the database at `path`.
    ///
    /// - Throws: GRDB's error when the file cannot be opened, or the lock is held elsewhere
    ///   for longer than 10 s.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        // Opening reads the schema, which another connection's checkpoint-on-close (a store
        // just released, say) can hold for a moment: wait for it instead of failing at once.
        configuration.busyMode = .timeout(10)
        connection = try DatabaseQueue(path: path, configuration: configuration)
        try connection.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }
    }

    /// Lets the lock go (its transaction wrote nothing) and closes the connection.
    public func release() throws {
        try connection.inDatabase { try $0.execute(sql: "COMMIT") }
        try connection.close()
    }
}
