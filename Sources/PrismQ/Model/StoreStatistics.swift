/// Counters and gauges of a store's connection pool, for `/health` and metrics.
public struct StoreStatistics: Sendable, Hashable {
    /// How many read connections the pool may open.
    public var readConnections: Int
    /// How many write connections (one per process for SQLite).
    public var writeConnections: Int
    /// Read operations run so far.
    public var reads: Int
    /// Write transactions run so far.
    public var writes: Int
    /// Operations that had to wait because every connection of their kind was in use.
    public var waits: Int
    /// Operations that failed with a storage or busy error.
    public var errors: Int
    /// Connections open now.
    public var openConnections: Int
    /// Operations running on a connection now.
    public var inUse: Int
    /// Operations waiting for a connection now.
    public var waiting: Int

    /// Makes a snapshot.
    public init(
        readConnections: Int, writeConnections: Int, reads: Int, writes: Int, waits: Int, errors: Int,
        openConnections: Int = 0, inUse: Int = 0, waiting: Int = 0
    ) {
        self.readConnections = readConnections
        self.writeConnections = writeConnections
        self.reads = reads
        self.writes = writes
        self.waits = waits
        self.errors = errors
        self.openConnections = openConnections
        self.inUse = inUse
        self.waiting = waiting
    }
}
