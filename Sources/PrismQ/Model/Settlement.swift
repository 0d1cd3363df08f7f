/// What a worker reports about a leased task it is done with.
public enum TaskOutcome: Sendable, Hashable {
    /// The handler succeeded; `result` is stored with the task.
    case completed(result: RawJSON?)
    /// The attempt failed: it runs again after the queue's retry policy's delay while attempts
    /// remain and `retryable` holds, else the task goes to `dead` (see
    /// ``LeaseStore/fail(_:error:retryable:retryPolicy:)``).
    case failed(error: String, retryable: Bool)
    /// The task goes back to `queued` without spending the attempt (graceful shutdown).
    case released
}

/// One lease a worker is done with, and how it ended.
public struct Settlement: Sendable, Hashable {
    /// The lease being settled.
    public var lease: LeaseID
    /// How the task ended.
    public var outcome: TaskOutcome

    /// Settles `lease` with `outcome`.
    public init(_ lease: LeaseID, _ outcome: TaskOutcome) {
        self.lease = lease
        self.outcome = outcome
    }
}

/// What ``TaskQueue/settle(_:thenClaim:)`` did.
public struct SettleResult: Sendable {
    /// For each settlement, in order: the task as it is now, or that settlement's own error
    /// (`leaseLost`, `notFound`, `payloadTooLarge`, or `invalidArgument` for a result nested too deep), which changed nothing.
    public var outcomes: [Result<QueueTask, QueueError>]
    /// The leases of the tasks claimed afterwards.
    public var leases: [Lease]

    /// A result.
    public init(outcomes: [Result<QueueTask, QueueError>], leases: [Lease]) {
        self.outcomes = outcomes
        self.leases = leases
    }
}
