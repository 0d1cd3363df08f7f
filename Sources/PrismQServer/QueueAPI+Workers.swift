import Foundation
import Hummingbird
import PrismQ

extension QueueAPI {
    /// `POST /queue/claim`: claims up to `max_tasks`, waiting up to `wait_seconds` for one to
    /// be ready (woken at once by an enqueue through this server).
    func claim(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["worker_id", "capabilities", "strategy", "lease_seconds", "max_tasks", "wait_seconds"])
        guard let workerID = try body.string("worker_id") else { throw APIError.invalid("'worker_id' is required.") }
        let maxTasks = try body.int("max_tasks") ?? 1
        guard (1...100).contains(maxTasks) else { throw APIError.invalid("'max_tasks' must be between 1 and 100.") }
        let claim = ClaimRequest(
            workerID: workerID,
            capabilities: try body.strings("capabilities") ?? [],
            strategy: try body.string("strategy").map { name throws(QueueError) in
                try SchedulingStrategy(parsing: name)
            } ?? .fifo,
            leaseDuration: try body.seconds("lease_seconds", in: 0.1...86_400) ?? .seconds(30),
            maxTasks: maxTasks
        )
        try claim.validate()
        let wait = min(try body.seconds("wait_seconds", in: 0...30) ?? .zero, configuration.claimWaitLimit)
        let leases = try await claimWaiting(claim, for: wait)
        var writer = JSONWriter()
        writer.add("tasks", raw: JSONWriter.array(leases.map { $0.task.json(includeLease: true) }))
        return Self.json(writer.json)
    }

    /// Claims, and while nothing is ready and time remains, sleeps until an enqueue through
    /// this server or a commit by another process wakes it, or the next delayed task is due.
    private func claimWaiting(_ claim: ClaimRequest, for wait: Duration) async throws -> [Lease] {
        let deadline = ContinuousClock.now + wait
        let signal = WakeupSignal()
        queue.wakeups.add(signal)
        let commits = queue.store.watchCommits { signal.notify() }
        defer {
            queue.wakeups.remove(signal)
            commits?.cancel()
        }
        while true {
            let leases = try await queue.claim(claim)
            if !leases.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return leases }
            // Wait without writing, and claim again only once a task is ready: look at the ready
            // set (a cheap read) after each wake-up, when the next delayed task is due, and
            // every 250 ms whatever happens.
            while true {
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero || Task.isCancelled { return [] }
                let untilReady = try await queue.store.timeUntilReady(capabilities: claim.capabilities)
                if untilReady == .zero { break }
                _ = await signal.wait(timeout: min(remaining, untilReady ?? remaining, .milliseconds(250)))
            }
        }
    }

    /// `POST /queue/tasks/{id}/heartbeat`: extends the lease by `lease_seconds`, or by the
    /// claim's lease length.
    func heartbeat(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["lease_token", "lease_seconds"])
        let lease = LeaseID(taskID: id, token: try Self.token(body))
        let task = try await queue.task(id: id)  // an unknown id is a 404, not a lost lease
        let duration = try body.seconds("lease_seconds", in: 0.1...86_400) ?? task.leaseDuration
        let renewed = try await queue.store.renew(lease, for: duration ?? .seconds(30))
        var writer = JSONWriter()
        writer.add("lease_expires_at", renewed.expiresAt)
        writer.add("cancel_requested", renewed.cancelRequested)
        return Self.json(writer.json)
    }

    /// `POST /queue/tasks/{id}/complete`.
    func complete(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: configuration.maxBodyBytes)
        try body.allowOnly(["lease_token", "result"])
        let lease = LeaseID(taskID: id, token: try Self.token(body))
        let result = body.raw("result")
        if let result, result.byteCount > configuration.maxPayloadBytes {
            throw QueueError(.payloadTooLarge, "The result is larger than \(configuration.maxPayloadBytes) bytes.")
        }
        return Self.json(try await queue.complete(lease, result: result).json())
    }

    /// `POST /queue/tasks/{id}/fail`: re-queued with the server's backoff, or `dead`.
    func fail(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["lease_token", "error", "retryable"])
        let lease = LeaseID(taskID: id, token: try Self.token(body))
        guard let error = try body.string("error") else { throw APIError.invalid("'error' is required.") }
        let attempts = try await queue.task(id: id).attempts
        let task = try await queue.fail(
            lease, error: error, retryable: try body.bool("retryable") ?? true,
            retryDelay: configuration.retryPolicy.delay(afterAttempt: attempts)
        )
        return Self.json(task.json())
    }

    /// The lease token of a worker request: a positive integer (a numeric string is accepted too).
    static func token(_ body: JSONBody) throws -> Int64 {
        if let token = try? body.integer("lease_token"), token > 0 { return token }
        if let text = try? body.string("lease_token"), let token = Int64(text), token > 0 { return token }
        throw APIError.invalid("'lease_token' is required: the positive integer the claim returned.")
    }
}
