import Logging
import ServiceLifecycle

/// Returns tasks whose lease ran out to `queued` (or `dead` / `cancelled`): the safety net
/// for workers that crashed or hung. Safe to run in several processes at once.
public struct Sweeper: Service {
    /// The queue to sweep.
    public let queue: TaskQueue
    /// How often to sweep. Default: 1 s.
    public var interval: Duration
    /// How many tasks one transaction moves at most. Default: 500.
    public var batchSize: Int
    let logger: Logger

    /// A sweeper over `queue`, whose store must be maintainable here (``TaskQueue/isMaintainable``).
    public init(
        queue: TaskQueue, interval: Duration = .seconds(1), batchSize: Int = 500,
        logger: Logger = Logger(label: "prismq.sweeper")
    ) {
        self.queue = queue
        self.interval = interval
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Sweeps until no expired lease is left.
    ///
    /// - Returns: how many tasks it moved.
    @discardableResult
    public func sweep() async throws(QueueError) -> Int {
        var total = 0
        while true {
            let moved = try await queue.requeueExpired(limit: batchSize)
            total += moved
            if moved < batchSize { break }
        }
        if total > 0 {
            logger.info("Requeued tasks whose lease expired", metadata: ["prismq.sweep.count": "\(total)"])
        }
        return total
    }

    /// Sweeps every `interval` until graceful shutdown or cancellation.
    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "Sweep failed") {
            try await sweep()
        }
    }
}

/// Runs `body` every `interval` until graceful shutdown or cancellation, first at once (or,
/// with `waitingFirst`, after one interval); a failure is logged and the next round runs as
/// usual.
package func repeatUntilShutdown(
    every interval: Duration, waitingFirst: Bool = false, logger: Logger, failure: Logger.Message,
    _ body: @escaping @Sendable () async throws -> Void
) async {
    await cancelWhenGracefulShutdown {
        if waitingFirst { try? await Task.sleep(for: interval) }
        while !Task.isCancelled {
            do {
                try await body()
            } catch {
                logger.warning(failure, metadata: ["prismq.error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
