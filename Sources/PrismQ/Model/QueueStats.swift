import Foundation

/// A summary of the queue: counts, the age of the oldest ready task, throughput, workers.
public struct QueueStats: Sendable, Hashable {
    /// How many tasks are in each state (every state present, zero when none).
    public var byStatus: [TaskStatus: Int]
    /// For each task type, how many of its tasks are in each state.
    public var byType: [String: [TaskStatus: Int]]
    /// Seconds since the oldest ready task became ready; `nil` when nothing is ready.
    public var oldestReadyAgeSeconds: Double?
    /// Tasks completed in the last 60 seconds.
    public var completedLastMinute: Int
    /// Tasks completed in the last hour.
    public var completedLastHour: Int
    /// Failed attempts (a `fail` or an expired lease) in the last 60 seconds.
    public var failedLastMinute: Int
    /// Failed attempts in the last hour.
    public var failedLastHour: Int
    /// Workers that heartbeated recently.
    public var activeWorkers: Int
    /// Workers that went silent without stopping.
    public var staleWorkers: Int

    /// Makes a summary.
    public init(
        byStatus: [TaskStatus: Int],
        byType: [String: [TaskStatus: Int]],
        oldestReadyAgeSeconds: Double?,
        completedLastMinute: Int,
        completedLastHour: Int,
        failedLastMinute: Int,
        failedLastHour: Int,
        activeWorkers: Int,
        staleWorkers: Int
    ) {
        self.byStatus = byStatus
        self.byType = byType
        self.oldestReadyAgeSeconds = oldestReadyAgeSeconds
        self.completedLastMinute = completedLastMinute
        self.completedLastHour = completedLastHour
        self.failedLastMinute = failedLastMinute
        self.failedLastHour = failedLastHour
        self.activeWorkers = activeWorkers
        self.staleWorkers = staleWorkers
    }
}

/// Tasks completed and attempts failed in one minute: a bar of the dashboard's chart.
public struct ThroughputBucket: Sendable, Hashable {
    /// The start of the minute.
    public var minute: Date
    /// Tasks completed in that minute.
    public var completed: Int
    /// Attempts failed (a `fail` or an expired lease) in that minute.
    public var failed: Int

    /// Makes a bucket.
    public init(minute: Date, completed: Int, failed: Int) {
        self.minute = minute
        self.completed = completed
        self.failed = failed
    }
}
