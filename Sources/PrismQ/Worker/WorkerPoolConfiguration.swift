import Foundation

/// How a ``WorkerPool`` claims and runs tasks.
public struct WorkerPoolConfiguration: Sendable {
    /// The worker's id in the registry. Default: `hostname-pid-random`.
    public var workerID: String = WorkerPoolConfiguration.defaultWorkerID()
    /// How many handlers run at once. Default: 4.
    public var concurrency: Int = 4
    /// How the pool picks among ready tasks; can be changed while it runs. Default: FIFO.
    public var strategy: SchedulingStrategy = .fifo
    /// How long a claim's lease lasts; renewed every third of it while the handler runs.
    /// Default: 30 s.
    public var leaseDuration: Duration = .seconds(30)
    /// How long a graceful shutdown waits for running handlers before it cancels them and
    /// hands their tasks back. Default: 10 s.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// The shortest and longest sleep of an idle pool between looks for work; the sleep
    /// doubles from the shortest while nothing comes. Default: 1 ms to 250 ms.
    public var idlePoll: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(250)
    /// How often the pool tells the registry it is alive. Default: 5 s.
    public var registryHeartbeat: Duration = .seconds(5)
    /// How often the pool sweeps expired leases (its own ``Sweeper``); `nil` runs none.
    /// Default: 1 s.
    public var sweepInterval: Duration? = .seconds(1)
    /// The clock of the pool's timers: idle polls, lease renewals, heartbeats, sweeps, task
    /// timeouts and the grace period. Tests pass a ``ManualClock/timer`` to move time by hand.
    /// Default: `ContinuousClock`.
    public var clock: any Clock<Duration> = ContinuousClock()

    /// Every default.
    public init() {}

    /// Checks the settings.
    public func validate() throws(QueueError) {
        guard (1...1000).contains(concurrency) else {
            throw QueueError(.invalidArgument, "The concurrency must be between 1 and 1000.")
        }
        guard leaseDuration >= .milliseconds(100) else {
            throw QueueError(.invalidArgument, "The lease must be at least 100 ms.")
        }
        try TaskValidation.validateWorkerID(workerID)
        guard idlePoll.lowerBound > .zero, shutdownGracePeriod >= .zero, registryHeartbeat > .zero,
            (sweepInterval ?? .seconds(1)) >= .milliseconds(10)
        else {
            throw QueueError(.invalidArgument, "Poll, sweep and heartbeat intervals must be positive.")
        }
    }

    /// `hostname-pid-random`: unique among the workers of one queue.
    public static func defaultWorkerID() -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
    }
}
