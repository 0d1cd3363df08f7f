/// An error a handler throws to say how its attempt failed.
///
/// Any other error a handler throws is a retryable failure whose message is the error's type
/// and description.
public struct TaskFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, kept as the task's `lastError`.
    public var message: String
    /// `false` sends the task straight to `dead`, whatever attempts remain.
    public var retryable: Bool

    /// A failure; retryable unless said otherwise.
    public init(_ message: String, retryable: Bool = true) {
        self.message = message
        self.retryable = retryable
    }

    /// A failure that no retry will fix: the task goes to `dead`.
    public static func permanent(_ message: String) -> TaskFailure {
        TaskFailure(message, retryable: false)
    }

    public var description: String { message }
}
