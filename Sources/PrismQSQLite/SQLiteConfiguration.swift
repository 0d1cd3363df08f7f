import Foundation
import PrismQ

/// How a ``SQLiteStore`` opens and uses its file.
public struct SQLiteConfiguration: Sendable {
    /// The PRAGMA profile applied to every connection. Default: ``SQLitePragmaProfile/balanced``.
    public var profile: SQLitePragmaProfile = .balanced
    /// The most read connections the pool opens. Default: 8.
    public var maxReaders: Int = 8
    /// How long a worker may stay silent before the registry calls it stale. Default: 30 s.
    public var workerStaleAfter: Duration = .seconds(30)
    /// Top-level payload fields to index, so that lists filtered by them (``PayloadMatch``)
    /// read an index. Each becomes a virtual generated column with an index, added when the
    /// store opens; fields indexed earlier, by any process, stay indexed. Default: none.
    public var indexedPayloadFields: [String] = []
    /// The clock the store reads "now" from for leases, delays and history. Default: the
    /// system clock.
    public var clock: any StoreClock = SystemClock()

    /// Every default.
    public init() {}
}
