/// The life-cycle state of a task.
///
/// `queued` → `running` → `completed`, with `failed` (a retry is scheduled), `dead` (the
/// dead-letter state: out of attempts or failed as non-retryable) and `cancelled` on the way.
///
/// An open set: a later version may add states (say, `waiting` for dependencies), so a
/// `switch` over a status needs a `default`, and a status read from a newer server keeps its
/// name. ``allCases`` lists the states this version knows.
public struct TaskStatus: RawRepresentable, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// The contract's name of the state.
    public let rawValue: String

    /// The state with this contract name, known to this version or not.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Waiting to be claimed once `runAfter` has passed.
    public static let queued = TaskStatus(rawValue: "queued")
    /// Claimed by a worker that holds its lease.
    public static let running = TaskStatus(rawValue: "running")
    /// Finished successfully.
    public static let completed = TaskStatus(rawValue: "completed")
    /// An attempt failed and a retry is scheduled (a store may write `queued` directly).
    public static let failed = TaskStatus(rawValue: "failed")
    /// Out of attempts, or failed as non-retryable: the dead-letter state.
    public static let dead = TaskStatus(rawValue: "dead")
    /// Cancelled before it finished; never claimed again.
    public static let cancelled = TaskStatus(rawValue: "cancelled")

    /// The states this version knows, in life-cycle order.
    public static let allCases: [TaskStatus] = [.queued, .running, .completed, .failed, .dead, .cancelled]

    /// Reads a state this version knows by its contract name, in any letter case.
    ///
    /// - Throws: `invalidArgument` naming the known states for any other name.
    public init(parsing name: String) throws(QueueError) {
        let status = TaskStatus(rawValue: name.lowercased())
        guard Self.allCases.contains(status) else {
            let names = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw QueueError(.invalidArgument, "Unknown status '\(name)'; use one of \(names).")
        }
        self = status
    }

    /// Whether the task has reached an end state (`completed`, `dead` or `cancelled`).
    public var isFinished: Bool {
        self == .completed || self == .dead || self == .cancelled
    }

    public var description: String { rawValue }
}
