import PrismQ

/// The PRAGMA settings applied to every connection of a ``SQLiteStore``.
///
/// Every profile uses WAL. They differ in what a commit survives and in memory use; see
/// `docs/configuration.md` for the durability of each.
public struct SQLitePragmaProfile: Sendable, Hashable, CustomStringConvertible {
    /// `synchronous`: `NORMAL` (1) survives a process crash, `FULL` (2) also a power loss.
    public enum Synchronous: Int, Sendable, Hashable {
        /// Commits survive a crash of the process; the last ones may be lost on power loss.
        case normal = 1
        /// Every commit is synced to disk before it returns: survives power loss.
        case full = 2
    }

    /// The profile's name: `conservative`, `balanced`, `aggressive` or `durable`.
    public var name: String
    /// `PRAGMA synchronous`.
    public var synchronous: Synchronous
    /// `PRAGMA busy_timeout`: how long a writer waits for another process's lock.
    public var busyTimeout: Duration
    /// `PRAGMA wal_autocheckpoint`, in pages.
    public var walAutocheckpoint: Int
    /// `PRAGMA cache_size`: negative values are KiB, as in SQLite.
    public var cacheSize: Int
    /// `PRAGMA temp_store`: 0 default, 1 file, 2 memory.
    public var tempStore: Int
    /// `PRAGMA mmap_size`, in bytes.
    public var mmapSize: Int

    /// `synchronous=FULL`, small cache, no memory map: the safest and leanest.
    public static let conservative = SQLitePragmaProfile(
        name: "conservative", synchronous: .full, busyTimeout: .seconds(10), walAutocheckpoint: 1000,
        cacheSize: -2000, tempStore: 0, mmapSize: 0
    )
    /// The default: WAL, `synchronous=NORMAL`, `busy_timeout=5000`, `wal_autocheckpoint=1000`,
    /// `cache_size=-20000`, `temp_store=MEMORY`, `mmap_size=128MiB`.
    public static let balanced = SQLitePragmaProfile(
        name: "balanced", synchronous: .normal, busyTimeout: .seconds(5), walAutocheckpoint: 1000,
        cacheSize: -20000, tempStore: 2, mmapSize: 128 << 20
    )
    /// `synchronous=NORMAL` with a larger cache, memory map and checkpoint interval: fastest,
    /// still durable against process crashes.
    public static let aggressive = SQLitePragmaProfile(
        name: "aggressive", synchronous: .normal, busyTimeout: .seconds(5), walAutocheckpoint: 10000,
        cacheSize: -64000, tempStore: 2, mmapSize: 512 << 20
    )
    /// `balanced` with `synchronous=FULL`: every acknowledged write survives power loss.
    public static let durable = SQLitePragmaProfile(
        name: "durable", synchronous: .full, busyTimeout: .seconds(5), walAutocheckpoint: 1000,
        cacheSize: -20000, tempStore: 2, mmapSize: 128 << 20
    )

    /// Every named profile.
    public static let all: [SQLitePragmaProfile] = [.conservative, .balanced, .aggressive, .durable]

    /// The profile with this name.
    ///
    /// - Throws: `invalidArgument` for an unknown name.
    public static func named(_ name: String) throws(QueueError) -> SQLitePragmaProfile {
        guard let profile = all.first(where: { $0.name == name.lowercased() }) else {
            throw QueueError(
                .invalidArgument,
                "Unknown profile '\(name)'; use conservative, balanced, aggressive or durable."
            )
        }
        return profile
    }

    /// The statements that set the profile on one connection. The writer needs them again
    /// after GRDB switches it to WAL, which resets `synchronous`.
    var statements: String {
        """
        PRAGMA busy_timeout = \(busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000);
        PRAGMA synchronous = \(synchronous.rawValue);
        PRAGMA wal_autocheckpoint = \(walAutocheckpoint);
        PRAGMA cache_size = \(cacheSize);
        PRAGMA temp_store = \(tempStore);
        PRAGMA mmap_size = \(mmapSize);
        """
    }

    public var description: String { name }
}
