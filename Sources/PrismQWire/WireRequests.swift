import PrismQ

extension NewTask {
    /// The task as the body of `POST /queue/tasks` (and an element of a batch's `tasks`).
    package var wireJSON: String {
        var writer = JSONWriter()
        writer.add("type", type)
        writer.add("payload", raw: payload.text)
        writer.add("priority", priority)
        writer.add("max_attempts", maxAttempts)
        if let runAfter { writer.add("run_after", runAfter) }
        if let delay { writer.add("delay_seconds", delay.inSeconds) }
        if let idempotencyKey { writer.add("idempotency_key", idempotencyKey) }
        if let timeout { writer.add("timeout_seconds", timeout.inSeconds) }
        return writer.json
    }
}

extension ClaimRequest {
    /// The request as the body of `POST /queue/claim` (at most 100 tasks, the contract's cap).
    package var wireJSON: String {
        var writer = JSONWriter()
        writer.add("worker_id", workerID)
        writer.add("capabilities", raw: JSONText.array(capabilities.map(JSONText.quoted)))
        writer.add("strategy", strategy.rawValue)
        writer.add("lease_seconds", leaseDuration.inSeconds)
        writer.add("max_tasks", min(maxTasks, 100))
        writer.add("wait_seconds", wait.inSeconds)
        return writer.json
    }
}
