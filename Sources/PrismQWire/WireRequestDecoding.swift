import PrismQ

/// How the server reads request bodies: the inverse of `WireRequests.swift`, shared by the
/// routes and by the fuzz target (`prismq-fuzz`). Every error is `invalidArgument` (HTTP 400
/// `invalid_request`) with a sentence for the client.
extension JSONBody {
    /// The most a body may nest: a task's payload at its limit, three levels down in a batch
    /// (`{"tasks": [{"payload": …}]}`).
    package static let maxNestingDepth = TaskValidation.maxNestingDepth + 3

    /// A request body, checked to be one JSON object nesting at most ``maxNestingDepth`` levels.
    ///
    /// The depth is checked first, so that a deeply nested body costs one pass, not a deep
    /// recursion.
    package static func decode(_ bytes: [UInt8]) throws(QueueError) -> JSONBody {
        guard bytes.withUnsafeBytes(RawJSON.nestingDepth) <= maxNestingDepth else {
            throw QueueError(
                .invalidArgument, "The body nests deeper than \(TaskValidation.maxNestingDepth) levels.")
        }
        return JSONBody(try JSONParser.object(JSONSource(bytes)))
    }

    /// The lease token of a worker request: a positive integer (a numeric string is accepted too).
    package func leaseToken() throws(QueueError) -> Int64 {
        if let token = try? integer("lease_token"), token > 0 { return token }
        if let text = try? string("lease_token"), let token = Int64(text), token > 0 { return token }
        throw QueueError(.invalidArgument, "'lease_token' is required: the positive integer the claim returned.")
    }
}

extension NewTask {
    /// The fields of a task in `POST /queue/tasks` and in a batch's `tasks`.
    package static let wireFields: Set<String> = [
        "type", "payload", "priority", "max_attempts", "run_after", "delay_seconds", "idempotency_key",
        "timeout_seconds",
    ]

    /// The task a body (or an element of a batch's `tasks`) asks for; the queue validates it.
    package init(wire body: JSONBody) throws(QueueError) {
        try body.allowOnly(Self.wireFields)
        guard let type = try body.string("type") else { throw QueueError(.invalidArgument, "'type' is required.") }
        if body.has("run_after"), body.has("delay_seconds") {
            throw QueueError(.invalidArgument, "Give run_after or delay_seconds, not both.")
        }
        let longest = Double(TaskValidation.longestDuration.components.seconds)
        self.init(
            type: type,
            payload: body.raw("payload") ?? .null,
            priority: try body.int("priority") ?? 0,
            runAfter: try body.string("run_after").map { text throws(QueueError) in try RFC3339.date(from: text) },
            delay: try body.seconds("delay_seconds", in: 0...longest),
            maxAttempts: try body.int("max_attempts") ?? 3,
            idempotencyKey: try body.string("idempotency_key"),
            timeout: try body.seconds("timeout_seconds", in: 0.001...longest)
        )
    }
}

extension ClaimRequest {
    /// The fields of a claim, in `POST /queue/claim` and in the `claim` of `POST /queue/settle`.
    package static let wireFields: Set<String> = [
        "worker_id", "capabilities", "strategy", "lease_seconds", "max_tasks",
    ]

    /// The claim a body asks for (its fields are ``wireFields``; the caller allows others),
    /// checked.
    package init(wire body: JSONBody) throws(QueueError) {
        guard let workerID = try body.string("worker_id") else {
            throw QueueError(.invalidArgument, "'worker_id' is required.")
        }
        let maxTasks = try body.int("max_tasks") ?? 1
        guard (1...100).contains(maxTasks) else {
            throw QueueError(.invalidArgument, "'max_tasks' must be between 1 and 100.")
        }
        self.init(
            workerID: workerID,
            capabilities: try body.strings("capabilities") ?? [],
            strategy: try body.string("strategy").map { name throws(QueueError) in
                try SchedulingStrategy(parsing: name)
            } ?? .fifo,
            leaseDuration: try body.seconds("lease_seconds", in: 0.1...86_400) ?? .seconds(30),
            maxTasks: maxTasks
        )
        try validate()
    }
}

extension Settlement {
    /// The fields each kind of outcome in `POST /queue/settle` takes.
    private enum Fields {
        static let release: Set<String> = ["task_id", "lease_token", "outcome"]
        static let complete = release.union(["result"])
        static let fail = release.union(["error", "retryable"])
    }

    /// One item of `outcomes`: `{task_id, lease_token, outcome: "complete" | "fail" | "release",
    /// result | error, retryable}`.
    package init(wire item: JSONBody) throws(QueueError) {
        guard let id = try item.integer("task_id"), id > 0 else {
            throw QueueError(.invalidArgument, "Each outcome needs 'task_id': a positive integer.")
        }
        let lease = LeaseID(taskID: id, token: try item.leaseToken())
        switch try item.string("outcome") {
        case "complete":
            try item.allowOnly(Fields.complete)
            self.init(lease, .completed(result: item.result()))
        case "fail":
            try item.allowOnly(Fields.fail)
            guard let error = try item.string("error") else {
                throw QueueError(.invalidArgument, "A 'fail' outcome needs 'error'.")
            }
            self.init(lease, .failed(error: error, retryable: try item.bool("retryable") ?? true))
        case "release":
            try item.allowOnly(Fields.release)
            self.init(lease, .released)
        default:
            throw QueueError(.invalidArgument, "Each outcome needs 'outcome': \"complete\", \"fail\" or \"release\".")
        }
    }
}
