import Foundation

/// One line of a task's history: every state change appends one.
public struct TaskLogEntry: Sendable, Hashable, Identifiable {
    /// What happened.
    public struct Event: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The task was created.
        public static let enqueued = Event(rawValue: "enqueued")
        /// A worker claimed it.
        public static let claimed = Event(rawValue: "claimed")
        /// A worker completed it.
        public static let completed = Event(rawValue: "completed")
        /// An attempt failed.
        public static let failed = Event(rawValue: "failed")
        /// A lease expired before the worker finished.
        public static let expired = Event(rawValue: "expired")
        /// It ended `cancelled`: while queued, or when its worker stopped after a cancel request.
        public static let cancelled = Event(rawValue: "cancelled")
        /// Cancellation was asked for while it ran.
        public static let cancelRequested = Event(rawValue: "cancel_requested")
        /// It went back to `queued` by a retry request.
        public static let retried = Event(rawValue: "retried")
        /// A worker handed its lease back without spending the attempt.
        public static let released = Event(rawValue: "released")

        public var description: String { rawValue }
    }

    /// The entry's id; entries of one task are in id order.
    public var id: Int64
    /// The task it belongs to.
    public var taskID: Int64
    /// What happened.
    public var event: Event
    /// When it happened.
    public var at: Date
    /// The worker involved, if any.
    public var workerID: String?
    /// Details: the error of a failure, the new state, …
    public var message: String?

    /// Makes an entry.
    public init(id: Int64, taskID: Int64, event: Event, at: Date, workerID: String?, message: String?) {
        self.id = id
        self.taskID = taskID
        self.event = event
        self.at = at
        self.workerID = workerID
        self.message = message
    }
}
