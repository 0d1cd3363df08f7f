/// The life-cycle state of a task.
///
/// `queued` → `running` → `completed`, with `failed` (a retry is scheduled), `dead` (the
/// dead-letter state: out of attempts or failed as non-retryable) and `cancelled` on the way.
public enum TaskStatus: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Waiting to be claimed once `runAfter` has passed.
    case queued
    /// Claimed by a worker that holds its lease.
    case running
    /// Finished successfully.
    case completed
    /// An attempt failed and a retry is scheduled (a store may write `queued` directly).
    case failed
    /// Out of attempts, or failed as non-retryable: the dead-letter state.
    case dead
    /// Cancelled before it finished; never claimed again.
    case cancelled

    /// Whether the task has reached an end state (`completed`, `dead` or `cancelled`).
    public var isFinished: Bool {
        switch self {
        case .completed, .dead, .cancelled: true
        case .queued, .running, .failed: false
        }
    }

    public var description: String { rawValue }
}
