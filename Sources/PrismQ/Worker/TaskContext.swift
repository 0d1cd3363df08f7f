import Logging

/// What a handler gets besides its payload: the task as claimed, and a logger.
public struct TaskContext: Sendable {
    /// The task, `running`, with `attempts` counting this attempt.
    public var task: QueueTask
    /// The lease the pool holds (and renews) for this attempt.
    public var lease: LeaseID
    /// A logger with `prismq.task.id` and `prismq.task.type` metadata.
    public var logger: Logger

    /// The attempt number, 1 for the first.
    public var attempt: Int { task.attempts }
}
