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
    /// Tasks completed, and attempts failed, in the last 24 hours.
    public var completedLastDay = 0
    public var failedLastDay = 0
    /// For each task type with ready tasks, completions or failures in the last day: how long
    /// its oldest ready task has waited, and its rates.
    public var activityByType: [String: TypeActivity] = [:]

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

extension QueueStats {
    /// Sets ``activityByType``, and the day's totals from it.
    public mutating func record(_ activity: [String: TypeActivity]) {
        activityByType = activity
        completedLastDay = activity.values.reduce(0) { $0 + $1.completed.lastDay }
        failedLastDay = activity.values.reduce(0) { $0 + $1.failed.lastDay }
    }
}

/// Counts over the last minute, hour and day.
public struct RecentCounts: Sendable, Hashable {
    public var lastMinute: Int
    public var lastHour: Int
    public var lastDay: Int

    /// Makes counts.
    public init(lastMinute: Int = 0, lastHour: Int = 0, lastDay: Int = 0) {
        self.lastMinute = lastMinute
        self.lastHour = lastHour
        self.lastDay = lastDay
    }
}

/// What one task type is doing: how long its oldest ready task has waited, and how many of
/// its tasks completed and attempts failed lately.
public struct TypeActivity: Sendable, Hashable {
    /// Seconds since its oldest ready task became ready; `nil` when none is ready.
    public var oldestReadyAgeSeconds: Double?
    public var completed: RecentCounts
    public var failed: RecentCounts

    /// Makes a type's activity.
    public init(oldestReadyAgeSeconds: Double? = nil, completed: RecentCounts = .init(), failed: RecentCounts = .init())
    {
        self.oldestReadyAgeSeconds = oldestReadyAgeSeconds
        self.completed = completed
        self.failed = failed
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
