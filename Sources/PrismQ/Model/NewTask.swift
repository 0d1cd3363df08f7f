import Foundation

/// A task to enqueue.
///
/// Checked by ``TaskValidation`` when it is enqueued, whatever the entry point.
public struct NewTask: Sendable, Hashable {
    /// The task type, 1–128 characters of `[A-Za-z0-9._:-]`.
    public var type: String
    /// The JSON payload; `null` by default. At most 1 MiB encoded by default.
    public var payload: RawJSON
    /// -1000…1000; 0 by default.
    public var priority: Int
    /// The earliest time the task may run; give this or ``delay``, not both.
    public var runAfter: Date?
    /// How long from now before the task may run; give this or ``runAfter``, not both.
    public var delay: Duration?
    /// The attempt budget, 1–100; 3 by default.
    public var maxAttempts: Int
    /// A key (1–256 characters) that names this task: enqueuing a key that already names a
    /// task returns that task and creates nothing.
    public var idempotencyKey: String?
    /// How long one attempt may run; no limit by default.
    public var timeout: Duration?

    /// Describes a task to enqueue; every default is the contract's.
    public init(
        type: String,
        payload: RawJSON = .null,
        priority: Int = 0,
        runAfter: Date? = nil,
        delay: Duration? = nil,
        maxAttempts: Int = 3,
        idempotencyKey: String? = nil,
        timeout: Duration? = nil
    ) {
        self.type = type
        self.payload = payload
        self.priority = priority
        self.runAfter = runAfter
        self.delay = delay
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
        self.timeout = timeout
    }
}

/// What enqueuing one ``NewTask`` produced.
public struct EnqueueResult: Sendable, Hashable {
    /// The stored task: the new one, or the one that already had the idempotency key.
    public var task: QueueTask
    /// `false` when the idempotency key already named a task and nothing was created.
    public var created: Bool

    /// Pairs a task with whether it was created.
    public init(task: QueueTask, created: Bool) {
        self.task = task
        self.created = created
    }
}
