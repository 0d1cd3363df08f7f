/// The queue's own rules, the same for every entry point (Swift API, worker pools, HTTP, CLI):
/// what may be enqueued and stored, and when a failed attempt runs again.
public struct TaskQueueConfiguration: Sendable, Hashable {
    /// The limits tasks, results and requests are checked against. Default: 1 MiB payloads
    /// and results.
    public var limits = TaskValidation()
    /// When a failed attempt runs again, for in-process pools and HTTP workers alike.
    /// Default: ``RetryPolicy/standard``.
    public var retryPolicy: RetryPolicy = .standard

    /// Every default.
    public init() {}
}
