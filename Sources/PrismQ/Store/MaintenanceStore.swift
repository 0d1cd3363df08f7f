import Foundation

/// The operator's role of a store: sweeping expired leases, retention, housekeeping and the
/// store's own counters. A remote server does this itself, so a remote store lacks the role.
public protocol MaintenanceStore: Sendable {
    /// Returns tasks whose lease ran out to `queued` (or `dead` when out of attempts, or
    /// `cancelled` when cancellation was asked for), at most `limit` (≥ 1) at once.
    ///
    /// - Returns: how many tasks it moved. Safe to run in several processes at once.
    func requeueExpired(limit: Int) async throws(QueueError) -> Int

    /// Deletes the tasks `selection` names (a valid one), those that finished first first, with
    /// their history, at most `limit` (≥ 1) in one transaction; their idempotency keys are free
    /// again afterwards.
    ///
    /// - Returns: how many tasks it deleted.
    func purge(_ selection: PurgeSelection, limit: Int) async throws(QueueError) -> Int

    /// How many tasks `selection` names now: what a purge would delete.
    func countPurgeable(_ selection: PurgeSelection) async throws(QueueError) -> Int

    /// Records `policy` as the retention a maintenance round applied at `date`, in place of
    /// the last record.
    func recordRetention(_ policy: RetentionPolicy, at date: Date) async throws(QueueError)

    /// The retention a maintenance round last recorded; `nil` when none has.
    func recordedRetention() async throws(QueueError) -> RecordedRetention?

    /// Housekeeping the store wants now and then (SQLite: a passive WAL checkpoint and
    /// `PRAGMA optimize`).
    func maintain() async throws(QueueError)

    /// The store's connection counters, in a shape every store can fill.
    var statistics: StoreStatistics { get }
}

extension MaintenanceStore {
    /// Records nothing: a store of its own may keep no record (`prismq check` then shows none).
    public func recordRetention(_ policy: RetentionPolicy, at date: Date) async throws(QueueError) {}

    /// None recorded.
    public func recordedRetention() async throws(QueueError) -> RecordedRetention? { nil }

    /// Deletes finished tasks (`completed`, `dead`, `cancelled`) of every type that finished
    /// before `cutoff`, at most `limit` (≥ 1) in one transaction per status.
    ///
    /// - Returns: how many tasks it deleted.
    public func purge(finishedBefore cutoff: Date, limit: Int) async throws(QueueError) -> Int {
        var deleted = 0
        for status in PurgeSelection.finishedStatuses where deleted < limit {
            deleted += try await purge(PurgeSelection(status: status, finishedBefore: cutoff), limit: limit - deleted)
        }
        return deleted
    }
}
