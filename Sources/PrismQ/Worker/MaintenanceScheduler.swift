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
    /// How long finished tasks are kept; `nil` keeps them forever. Default: 30 days.
    public var retention: Duration?
    /// The clock "now" comes from. Default: the system clock.
    public var now: @Sendable () -> Date
    let logger: Logger

    /// A scheduler over `queue`, whose store must be maintainable here (``TaskQueue/isMaintainable``).
    public init(
        queue: TaskQueue, interval: Duration = .seconds(300), retention: Duration? = .seconds(30 * 86400),
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "prismq.maintenance")
    ) {
        self.queue = queue
        self.interval = interval
        self.retention = retention
        self.now = now
        self.logger = logger
    }

    /// Runs once: purges in batches of 1000 until nothing is left to purge, then maintains.
    ///
    /// - Returns: how many tasks it deleted.
    @discardableResult
    public func runOnce() async throws(QueueError) -> Int {
        var deleted = 0
        if let retention {
            let cutoff = now().addingTimeInterval(-retention.inSeconds)
            while true {
                let batch = try await queue.purge(finishedBefore: cutoff, limit: 1000)
                deleted += batch
                if batch < 1000 { break }
            }
            if deleted > 0 {
                logger.info(
                    "Purged finished tasks past their retention", metadata: ["prismq.purge.count": "\(deleted)"])
            }
        }
        try await queue.maintain()
        return deleted
    }

    /// Runs every `interval` until graceful shutdown or cancellation.
    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "Maintenance failed") {
            try await runOnce()
        }
    }
}
