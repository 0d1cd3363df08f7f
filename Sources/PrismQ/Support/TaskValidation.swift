import Foundation

/// The contract's limits on what may be enqueued or asked for, checked in one place.
///
/// Every entry point (Swift API, CLI, HTTP) goes through these checks before anything is
/// written, so invalid input always gets the same specific error and changes nothing.
public struct TaskValidation: Sendable, Hashable {
    /// The largest payload accepted, in bytes of encoded JSON. Default: 1 MiB.
    public var maxPayloadBytes: Int = 1 << 20

    /// The allowed range of priorities: -1000…1000.
    public static let priorityRange = -1000...1000
    /// The allowed range of attempt budgets: 1…100.
    public static let maxAttemptsRange = 1...100
    /// The allowed lengths of a task type: 1…128.
    public static let typeLengthRange = 1...128
    /// The allowed lengths of an idempotency key: 1…256.
    public static let idempotencyKeyLengthRange = 1...256
    /// The longest delay or timeout accepted: 100 years.
    public static let longestDuration = Duration.seconds(100 * 365 * 86400)
    /// The latest `runAfter` accepted: the end of year 9999.
    public static let latestRunAfter = Date(timeIntervalSince1970: 253_402_300_799)
    /// The largest batch enqueued at once: 1000.
    public static let maxBatchSize = 1000
    /// The deepest nesting of arrays and objects a payload or result may have: 64.
    public static let maxNestingDepth = 64
    /// The allowed page sizes of a task list: 1…1000.
    public static let pageLimitRange = 1...1000
    /// The allowed lengths of a worker id: 1…256.
    public static let workerIDLengthRange = 1...256
    /// The most task types a worker names: 100.
    public static let maxCapabilities = 100
    /// The longest failure message kept, in characters (longer ones are cut): 8192.
    public static let maxErrorLength = 8192
    /// The allowed spans of a throughput report, in minutes: 1…1440.
    public static let throughputMinutesRange = 1...1440

    /// Limits with every default.
    public init() {}

    /// Limits with a payload size other than 1 MiB.
    public init(maxPayloadBytes: Int) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// Checks a task type: 1–128 characters of `[A-Za-z0-9._:-]`.
    public static func validateType(_ type: String) throws(QueueError) {
        guard typeLengthRange.contains(type.utf8.count),
            type.utf8.allSatisfy({ byte in isTypeByte(byte) })
        else {
            throw QueueError(
                .invalidArgument,
                "The task type must be 1–128 characters of letters, digits, '.', '_', ':' or '-'."
            )
        }
    }

    private static func isTypeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: ":"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Checks every field of a new task against the contract.
    public func validate(_ task: NewTask) throws(QueueError) {
        try Self.validateType(task.type)
        guard Self.priorityRange.contains(task.priority) else {
            throw QueueError(.invalidArgument, "The priority must be between -1000 and 1000.")
        }
        guard Self.maxAttemptsRange.contains(task.maxAttempts) else {
            throw QueueError(.invalidArgument, "max_attempts must be between 1 and 100.")
        }
        if task.runAfter != nil, task.delay != nil {
            throw QueueError(.invalidArgument, "Give run_after or a delay, not both.")
        }
        if let delay = task.delay, delay < .zero || delay > Self.longestDuration {
            throw QueueError(.invalidArgument, "The delay must be between zero and 100 years.")
        }
        if let runAfter = task.runAfter,
            runAfter < Date(timeIntervalSince1970: 0) || runAfter > Self.latestRunAfter
        {
            throw QueueError(.invalidArgument, "run_after must be between 1970 and 9999.")
        }
        if let key = task.idempotencyKey, !Self.idempotencyKeyLengthRange.contains(key.count) {
            throw QueueError(.invalidArgument, "The idempotency key must be 1–256 characters.")
        }
        if let timeout = task.timeout, timeout <= .zero || timeout > Self.longestDuration {
            throw QueueError(.invalidArgument, "The timeout must be positive and at most 100 years.")
        }
        guard task.payload.byteCount <= maxPayloadBytes else {
            throw QueueError(
                .payloadTooLarge,
                "The payload is \(task.payload.byteCount) bytes; the limit is \(maxPayloadBytes)."
            )
        }
        try Self.validateNesting(task.payload.text)
    }

    /// Checks that JSON text nests arrays and objects at most ``maxNestingDepth`` deep.
    public static func validateNesting(_ json: String) throws(QueueError) {
        var json = json
        guard json.withUTF8({ RawJSON.nestingDepth(of: UnsafeRawBufferPointer($0)) }) <= maxNestingDepth else {
            throw QueueError(.invalidArgument, "The JSON nests deeper than \(maxNestingDepth) levels.")
        }
    }

    /// Checks a batch: 1–1000 tasks, each valid.
    public func validate(batch tasks: [NewTask]) throws(QueueError) {
        guard (1...Self.maxBatchSize).contains(tasks.count) else {
            throw QueueError(.invalidArgument, "A batch holds 1 to 1000 tasks; this one has \(tasks.count).")
        }
        for task in tasks {
            try validate(task)
        }
    }

    /// Checks a task's result: at most ``maxPayloadBytes``, nested at most ``maxNestingDepth``.
    public func validate(result: RawJSON?) throws(QueueError) {
        guard let result else { return }
        guard result.byteCount <= maxPayloadBytes else {
            throw QueueError(
                .payloadTooLarge, "The result is \(result.byteCount) bytes; the limit is \(maxPayloadBytes).")
        }
        try Self.validateNesting(result.text)
    }

    /// Checks a worker id: 1–256 characters.
    public static func validateWorkerID(_ id: String) throws(QueueError) {
        guard workerIDLengthRange.contains(id.count) else {
            throw QueueError(.invalidArgument, "The worker id must be 1–256 characters.")
        }
    }

    /// Checks the task types a worker handles: at most 100, each a valid type.
    public static func validateCapabilities(_ capabilities: [String]) throws(QueueError) {
        guard capabilities.count <= maxCapabilities else {
            throw QueueError(.invalidArgument, "A worker names at most \(maxCapabilities) task types.")
        }
        for type in capabilities {
            try validateType(type)
        }
    }

    /// Checks a lease's length: longer than zero.
    public static func validateLease(_ duration: Duration) throws(QueueError) {
        guard duration > .zero else {
            throw QueueError(.invalidArgument, "The lease must be longer than zero.")
        }
    }

    /// Checks a page request's limit.
    public static func validate(_ page: PageRequest) throws(QueueError) {
        guard pageLimitRange.contains(page.limit) else {
            throw QueueError(.invalidArgument, "The limit must be between 1 and 1000.")
        }
    }
}
