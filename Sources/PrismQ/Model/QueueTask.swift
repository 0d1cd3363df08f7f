import Foundation

/// A task as stored: one row of the queue.
///
/// Named `QueueTask` rather than `Task` so that importing PrismQ never shadows Swift's own
/// `Task`. Its fields are those of the REST contract's task object, plus the lease token and
/// the cancel-requested flag that workers use.
public struct QueueTask: Sendable, Hashable, Identifiable {
    /// The task's id: a positive integer, never reused.
    public var id: Int64
    /// The task type, 1–128 characters of `[A-Za-z0-9._:-]`.
    public var type: String
    /// The JSON payload.
    public var payload: RawJSON
    /// The current state.
    public var status: TaskStatus
    /// -1000…1000; higher runs first under the priority strategy.
    public var priority: Int
    /// How many times the task was claimed.
    public var attempts: Int
    /// The attempt budget, 1–100.
    public var maxAttempts: Int
    /// The idempotency key the task was enqueued with, if any.
    public var idempotencyKey: String?
    /// When the task was enqueued.
    public var createdAt: Date
    /// When the task may run (its creation time for an immediate task).
    public var runAfter: Date
    /// The worker that holds or last held the lease.
    public var claimedBy: String?
    /// When the current or last lease was taken.
    public var claimedAt: Date?
    /// When the current lease expires.
    public var leaseExpiresAt: Date?
    /// When the task finished (completed, dead or cancelled).
    public var completedAt: Date?
    /// The error of the last failed attempt.
    public var lastError: String?
    /// The result a worker completed the task with.
    public var result: RawJSON?
    /// The fencing token of the current lease; only its holder may complete or fail the task.
    public var leaseToken: Int64?
    /// Whether cancellation was asked for while the task was running.
    public var cancelRequested: Bool
    /// How long one attempt may run before it is failed with a timeout error.
    public var timeout: Duration?
    /// The length of the current or last claim's lease (what a renewal extends by by default).
    public var leaseDuration: Duration?

    /// Makes a task value; stores use this to return what they hold.
    public init(
        id: Int64, type: String, payload: RawJSON, status: TaskStatus, priority: Int, attempts: Int,
        maxAttempts: Int, idempotencyKey: String?, createdAt: Date, runAfter: Date, claimedBy: String?,
        claimedAt: Date?, leaseExpiresAt: Date?, completedAt: Date?, lastError: String?, result: RawJSON?,
        leaseToken: Int64?, cancelRequested: Bool, timeout: Duration?, leaseDuration: Duration? = nil
    ) {
        self.id = id
        self.type = type
        self.payload = payload
        self.status = status
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
        self.createdAt = createdAt
        self.runAfter = runAfter
        self.claimedBy = claimedBy
        self.claimedAt = claimedAt
        self.leaseExpiresAt = leaseExpiresAt
        self.completedAt = completedAt
        self.lastError = lastError
        self.result = result
        self.leaseToken = leaseToken
        self.cancelRequested = cancelRequested
        self.timeout = timeout
        self.leaseDuration = leaseDuration
    }
}
