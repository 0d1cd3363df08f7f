import Foundation
import PrismQ

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A store that is a `prismq serve` somewhere else: every call is one REST request, so the
/// CLI's commands work against `--db http://…` exactly as against a database file.
///
/// It plays the roles the REST contract offers, producing and leasing, and no others: a claim
/// registers its worker and a lease renewal refreshes it, and the server sweeps and maintains
/// its store itself.
struct RemoteStore: TaskStore, LeaseStore {
    let base: URL
    let token: String?
    private let session: URLSession

    init(url: String, token: String?) throws(QueueError) {
        guard let base = URL(string: url.hasSuffix("/") ? String(url.dropLast()) : url),
            let scheme = base.scheme, ["http", "https"].contains(scheme), base.host != nil
        else {
            throw QueueError(.invalidArgument, "--server takes an http:// or https:// URL; '\(url)' is not one.")
        }
        self.base = base
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        self.session = URLSession(configuration: configuration)
    }

    // MARK: Producer calls

    func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        if tasks.count == 1 {
            let (status, object) = try await send("POST", "/queue/tasks", body: Self.body(of: tasks[0]))
            return [EnqueueResult(task: try RemoteTask.decode(object), created: status == 201)]
        }
        let body = "{\"tasks\":" + JSONWriter.array(tasks.map(Self.body(of:))) + "}"
        let (_, object) = try await send("POST", "/queue/tasks/batch", body: body)
        return try Self.tasks(object).map { EnqueueResult(task: $0, created: true) }
    }

    func task(id: Int64) async throws(QueueError) -> QueueTask {
        try RemoteTask.decode(try await send("GET", "/queue/tasks/\(id)").1)
    }

    func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage {
        var query = [URLQueryItem(name: "limit", value: String(page.limit))]
        if let status = filter.status { query.append(URLQueryItem(name: "status", value: status.rawValue)) }
        if let type = filter.type { query.append(URLQueryItem(name: "type", value: type)) }
        if let match = filter.payload {
            query.append(URLQueryItem(name: "payload_field", value: "\(match.field)=\(match.value.text)"))
        }
        if let cursor = page.cursor { query.append(URLQueryItem(name: "cursor", value: cursor.description)) }
        let object = try await send("GET", "/queue/tasks", query: query).1
        let next = try (object["next_cursor"] as? String).map { text throws(QueueError) in try PageCursor(parsing: text)
        }
        return TaskPage(tasks: try Self.tasks(object), nextCursor: next)
    }

    func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        try RemoteTask.decode(try await send("POST", "/queue/tasks/\(id)/cancel", body: "{}").1)
    }

    func retry(id: Int64) async throws(QueueError) -> QueueTask {
        try RemoteTask.decode(try await send("POST", "/queue/tasks/\(id)/retry", body: "{}").1)
    }

    func stats() async throws(QueueError) -> QueueStats {
        try RemoteTask.stats(try await send("GET", "/queue/stats").1)
    }

    func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket] {
        let object = try await send(
            "GET", "/queue/throughput", query: [URLQueryItem(name: "minutes", value: "\(minutes)")]
        ).1
        return (object["minutes"] as? [[String: Any]] ?? []).map { bucket in
            ThroughputBucket(
                minute: RemoteTask.date(bucket["minute"]) ?? Date(), completed: bucket["completed"] as? Int ?? 0,
                failed: bucket["failed"] as? Int ?? 0
            )
        }
    }

    func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        let object = try await send("GET", "/queue/tasks/\(taskID)/logs").1
        return (object["logs"] as? [[String: Any]] ?? []).map { entry in
            TaskLogEntry(
                id: RemoteTask.int64(entry["id"]) ?? 0, taskID: RemoteTask.int64(entry["task_id"]) ?? taskID,
                event: TaskLogEntry.Event(rawValue: entry["event"] as? String ?? ""),
                at: RemoteTask.date(entry["at"]) ?? Date(), workerID: entry["worker_id"] as? String,
                message: entry["message"] as? String
            )
        }
    }

    func workers() async throws(QueueError) -> [WorkerInfo] {
        try RemoteTask.workers(try await send("GET", "/queue/workers").1)
    }

    // MARK: Worker calls

    func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        var writer = JSONWriter()
        writer.add("worker_id", request.workerID)
        writer.add("capabilities", raw: JSONWriter.array(request.capabilities.map(JSONWriter.quoted)))
        writer.add("strategy", request.strategy.rawValue)
        writer.add("lease_seconds", request.leaseDuration.inSeconds)
        writer.add("max_tasks", min(request.maxTasks, 100))
        writer.add("wait_seconds", request.wait.inSeconds)
        let object = try await send("POST", "/queue/claim", body: writer.json).1
        return try (object["tasks"] as? [[String: Any]] ?? []).map { item throws(QueueError) in
            let task = try RemoteTask.decode(item)
            guard let token = RemoteTask.int64(item["lease_token"]) else {
                throw QueueError(.storage, "The server's claim answer has no lease token.")
            }
            return Lease(
                task: task, id: LeaseID(taskID: task.id, token: token), expiresAt: task.leaseExpiresAt ?? Date()
            )
        }
    }

    func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        var renewals: [LeaseRenewal] = []
        for lease in leases {
            var writer = JSONWriter()
            writer.add("lease_token", lease.token)
            writer.add("lease_seconds", duration.inSeconds)
            do {
                let object = try await send("POST", "/queue/tasks/\(lease.taskID)/heartbeat", body: writer.json).1
                renewals.append(
                    .renewed(
                        expiresAt: RemoteTask.date(object["lease_expires_at"]) ?? Date(),
                        cancelRequested: object["cancel_requested"] as? Bool ?? false
                    )
                )
            } catch  where error.code == .leaseLost || error.code == .notFound {
                renewals.append(.lost)
            }
        }
        return renewals
    }

    func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        writer.add("result", raw: result?.text)
        return try RemoteTask.decode(
            try await send("POST", "/queue/tasks/\(lease.taskID)/complete", body: writer.json).1)
    }

    /// Fails over HTTP; the server applies its own retry policy, so `retryPolicy` only says
    /// whether to retry at all.
    func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        writer.add("error", error)
        writer.add("retryable", retryable && retryPolicy != .none)
        return try RemoteTask.decode(try await send("POST", "/queue/tasks/\(lease.taskID)/fail", body: writer.json).1)
    }

    func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        return try RemoteTask.decode(
            try await send("POST", "/queue/tasks/\(lease.taskID)/release", body: writer.json).1)
    }

    // MARK: HTTP

    /// Sends a request and returns the status and the JSON object answered, or the server's
    /// error as a ``QueueError``.
    private func send(
        _ method: String, _ path: String, query: [URLQueryItem] = [], body: String? = nil
    )
        async throws(QueueError) -> (Int, [String: Any])
    {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        // The server refuses a POST that is not JSON, even one without a body.
        if body != nil || method == "POST" {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw QueueError(
                .storage, "Cannot reach the server at \(base.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard (200..<300).contains(status) else {
            let error = object["error"] as? [String: Any]
            let message = error?["message"] as? String ?? "The server answered HTTP \(status)."
            throw QueueError(Self.code(error?["code"] as? String, status: status), message)
        }
        return (status, object)
    }

    private static func code(_ name: String?, status: Int) -> QueueError.Code {
        switch name {
        case "invalid_request", "unsupported_media_type", "unauthorized": .invalidArgument
        case "not_found": .notFound
        case "conflict": .conflict
        case "lease_lost": .leaseLost
        case "payload_too_large": .payloadTooLarge
        case "busy": .busy
        default: status == 404 ? .notFound : .storage
        }
    }

    private static func tasks(_ object: [String: Any]) throws(QueueError) -> [QueueTask] {
        try (object["tasks"] as? [[String: Any]] ?? []).map { item throws(QueueError) in try RemoteTask.decode(item) }
    }

    /// A new task as the REST body `POST /queue/tasks` takes.
    static func body(of task: NewTask) -> String {
        var writer = JSONWriter()
        writer.add("type", task.type)
        writer.add("payload", raw: task.payload.text)
        writer.add("priority", task.priority)
        writer.add("max_attempts", task.maxAttempts)
        if let runAfter = task.runAfter { writer.add("run_after", runAfter) }
        if let delay = task.delay { writer.add("delay_seconds", delay.inSeconds) }
        if let key = task.idempotencyKey { writer.add("idempotency_key", key) }
        if let timeout = task.timeout { writer.add("timeout_seconds", timeout.inSeconds) }
        return writer.json
    }
}
