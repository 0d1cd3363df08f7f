/// The role of a store that can tell an idle worker when to look for work, so that it waits
/// without claiming in a loop.
///
/// Without it, ``TaskQueue/timeUntilReady(capabilities:)`` and
/// ``TaskQueue/watchCommits(_:)`` answer `nil`, and workers poll with (long-polling) claims.
public protocol ReadinessStore: Sendable {
    /// How long until the earliest queued task of these types (any type when empty) is
    /// ready: `.zero` when one is ready now, `nil` when none is queued. A cheap read.
    func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration?

    /// Calls `onCommit` soon after a commit to the store by any connection, another
    /// process's included, until the watch is cancelled: how an idle worker learns of a task
    /// enqueued elsewhere without polling the tasks. `nil` when the store cannot tell.
    func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch?
}
