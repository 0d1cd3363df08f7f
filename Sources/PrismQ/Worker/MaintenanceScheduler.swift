import Foundation
import Logging
import ServiceLifecycle

/// Keeps a queue tidy in the background: deletes finished tasks past their retention, then
/// lets the store do its housekeeping (SQLite: WAL checkpoint, `PRAGMA optimize`).
public struct MaintenanceScheduler: Service {
    /// The queue to look after.
    public let queue: TaskQueue
    /// How often to run. Default: 5 minutes.
    public var interval: Duration
    /// How long finished tasks are kept, by status and type; `nil` keeps them all forever.
    /// Default: ``RetentionPolicy/init()`` (`completed` and `cancelled` 7 days, `dead` 30).
    public var retention: RetentionPolicy?
    /// The clock "now" comes from. Default: the system clock.
    public var now: @Sendable () -> Date
    let logger: Logger

    /// A scheduler over `queue`, whose store must be maintainable here (``TaskQueue/isMaintainable``).
    public init(
        queue: TaskQueue, interval: Duration = .seconds(300), retention: RetentionPolicy? = RetentionPolicy(),
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "prismq.maintenance")
    ) {
        self.queue = queue
        self.interval = interval
        self.retention = retention
        self.now = now
        self.logger = logger
    }

    /// Runs once: purges what the retention policy says in batches of 1000 until nothing is
    /// left to purge, maintains, then records in the store that the policy was applied (what
    /// `prismq check` shows).
    ///
    /// - Returns: how many tasks it deleted.
    @discardableResult
    public func runOnce() async throws(QueueError) -> Int {
        var deleted = 0
        let round = now()
        if let retention {
            for selection in retention.selections(now: now()) {
                deleted += try await queue.purgeAll(selection)
            }
            if deleted > 0 {
                logger.info(
                    "Purged finished tasks past their retention", metadata: ["prismq.purge.count": "\(deleted)"])
            }
        }
        try await queue.maintain()
        try await queue.recordRetention(retention ?? .keeping(nil), at: round)
        return deleted
    }

    /// Runs every `interval` until graceful shutdown or cancellation.
    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "Maintenance failed") {
            try await runOnce()
        }
    }
}
