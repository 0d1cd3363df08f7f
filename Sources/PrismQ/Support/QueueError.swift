/// The one error type of PrismQ: a stable ``Code`` and a human sentence.
///
/// Errors compare equal by code only, so `#expect(throws: QueueError(.notFound))` and
/// `catch let error as QueueError where error.code == .busy` both work. The message never
/// holds payloads.
public struct QueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable machine code. New codes may be added without breaking clients.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidArgument = "invalid_request"
            case notFound = "not_found"
            case conflict = "conflict"
            case leaseLost = "lease_lost"
            case payloadTooLarge = "payload_too_large"
            case busy = "busy"
            case storage = "storage"
        }

        private let base: Base

        /// An argument was invalid; nothing was changed.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// No task (or worker) has that id.
        public static let notFound = Code(base: .notFound)
        /// The operation does not apply to the task's current state.
        public static let conflict = Code(base: .conflict)
        /// The lease is no longer held by this token: the task passed to another worker.
        public static let leaseLost = Code(base: .leaseLost)
        /// The payload is larger than the configured limit.
        public static let payloadTooLarge = Code(base: .payloadTooLarge)
        /// The database stayed locked for the whole busy timeout.
        public static let busy = Code(base: .busy)
        /// The database could not be opened, read or written.
        public static let storage = Code(base: .storage)

        /// The code as the REST contract writes it (`invalid_request`, `not_found`, …).
        public var name: String { base.rawValue }

        public var description: String { name }
    }

    /// What kind of error this is.
    public var code: Code
    /// One sentence for a person.
    public var message: String

    /// Makes an error with a code and a message.
    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    public static func == (lhs: QueueError, rhs: QueueError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { message.isEmpty ? code.name : message }
}
