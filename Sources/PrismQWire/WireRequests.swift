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
    /// The request as the body of `POST /queue/claim` (at most 100 tasks, the contract's cap),
    /// or, without `wait_seconds`, as the `claim` of `POST /queue/settle`.
    package func wireJSON(waiting: Bool = true) -> String {
        var writer = JSONWriter()
        writer.add("worker_id", workerID)
        writer.add("capabilities", raw: JSONText.array(capabilities.map(JSONText.quoted)))
        writer.add("strategy", strategy.rawValue)
        writer.add("lease_seconds", leaseDuration.inSeconds)
        writer.add("max_tasks", min(maxTasks, 100))
        if waiting { writer.add("wait_seconds", wait.inSeconds) }
        return writer.json
    }
}

extension Settlement {
    /// The settlement as an item of `POST /queue/settle`'s `outcomes`; a failure is retryable
    /// only when `retrying` (the server applies its own retry policy).
    package func wireJSON(retrying: Bool) -> String {
        var writer = JSONWriter()
        writer.add("task_id", lease.taskID)
        writer.add("lease_token", lease.token)
        switch outcome {
        case .completed(let result):
            writer.add("outcome", "complete")
            writer.add("result", raw: result?.text)
        case .failed(let error, let retryable):
            writer.add("outcome", "fail")
            writer.add("error", error)
            writer.add("retryable", retryable && retrying)
        case .released:
            writer.add("outcome", "release")
        }
        return writer.json
    }
}
