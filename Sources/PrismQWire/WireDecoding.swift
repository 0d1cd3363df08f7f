import Foundation
import PrismQ

/// Reads the REST contract's JSON objects back into model values: what a client of the
/// server gets back.
package enum WireDecoding {
    /// A task object.
    package static func task(_ object: [String: Any]) throws(QueueError) -> QueueTask {
        guard let id = int64(object["id"]), let type = object["type"] as? String,
            let status = (object["status"] as? String).map(TaskStatus.init(rawValue:)),
            let createdAt = date(object["created_at"]), let runAfter = date(object["run_after"])
        else {
            throw QueueError(.storage, "The server answered something that is not a task.")
        }
        return QueueTask(
            id: id, type: type, payload: json(object["payload"]) ?? .null, status: status,
            priority: object["priority"] as? Int ?? 0, attempts: object["attempts"] as? Int ?? 0,
            maxAttempts: object["max_attempts"] as? Int ?? 3, idempotencyKey: object["idempotency_key"] as? String,
            createdAt: createdAt, runAfter: runAfter, claimedBy: object["claimed_by"] as? String,
            claimedAt: date(object["claimed_at"]), leaseExpiresAt: date(object["lease_expires_at"]),
            completedAt: date(object["completed_at"]), lastError: object["last_error"] as? String,
            result: object["result"] is NSNull ? nil : json(object["result"]), leaseToken: int64(object["lease_token"]),
            cancelRequested: object["cancel_requested"] as? Bool ?? false,
            timeout: (object["timeout_seconds"] as? Double).map {
                Duration(seconds: $0, rounding: .toNearestOrAwayFromZero)
            }
        )
    }

    /// The `GET /queue/stats` object.
    package static func stats(_ object: [String: Any]) -> QueueStats {
        func counts(_ value: Any?) -> [TaskStatus: Int] {
            let raw = value as? [String: Int] ?? [:]
            return Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, raw[$0.rawValue] ?? 0) })
        }
        let throughput = object["throughput"] as? [String: Int] ?? [:]
        let workers = object["workers"] as? [String: Int] ?? [:]
        var stats = QueueStats(
            byStatus: counts(object["by_status"]),
            byType: (object["by_type"] as? [String: Any] ?? [:]).mapValues(counts),
            oldestReadyAgeSeconds: object["oldest_ready_age_seconds"] as? Double,
            completedLastMinute: throughput["completed_last_minute"] ?? 0,
            completedLastHour: throughput["completed_last_hour"] ?? 0,
            failedLastMinute: throughput["failed_last_minute"] ?? 0,
            failedLastHour: throughput["failed_last_hour"] ?? 0,
            activeWorkers: workers["active"] ?? 0, staleWorkers: workers["stale"] ?? 0
        )
        // Older servers answer without these: the day's totals and the types' activity stay empty.
        let activity = (object["activity_by_type"] as? [String: [String: Any]] ?? [:]).mapValues { type in
            func recent(_ name: String) -> RecentCounts {
                RecentCounts(
                    lastMinute: type["\(name)_last_minute"] as? Int ?? 0,
                    lastHour: type["\(name)_last_hour"] as? Int ?? 0,
                    lastDay: type["\(name)_last_day"] as? Int ?? 0)
            }
            return TypeActivity(
                oldestReadyAgeSeconds: type["oldest_ready_age_seconds"] as? Double, completed: recent("completed"),
                failed: recent("failed"))
        }
        stats.record(activity)
        stats.completedLastDay = throughput["completed_last_day"] ?? stats.completedLastDay
        stats.failedLastDay = throughput["failed_last_day"] ?? stats.failedLastDay
        return stats
    }

    /// The `GET /queue/workers` object.
    package static func workers(_ object: [String: Any]) -> [WorkerInfo] {
        (object["workers"] as? [[String: Any]] ?? []).map { worker in
            WorkerInfo(
                id: worker["id"] as? String ?? "?", hostname: worker["hostname"] as? String, pid: worker["pid"] as? Int,
                capabilities: worker["capabilities"] as? [String] ?? [], strategy: worker["strategy"] as? String,
                startedAt: date(worker["started_at"]) ?? Date(),
                lastHeartbeatAt: date(worker["last_heartbeat_at"]) ?? Date(),
                state: (worker["state"] as? String).flatMap(WorkerInfo.State.init(rawValue:)) ?? .active,
                currentTasks: worker["current_tasks"] as? Int ?? 0
            )
        }
    }

    /// The `GET /queue/tasks/{id}/logs` object.
    package static func logs(_ object: [String: Any], taskID: Int64) -> [TaskLogEntry] {
        (object["logs"] as? [[String: Any]] ?? []).map { entry in
            TaskLogEntry(
                id: int64(entry["id"]) ?? 0, taskID: int64(entry["task_id"]) ?? taskID,
                event: TaskLogEntry.Event(rawValue: entry["event"] as? String ?? ""),
                at: date(entry["at"]) ?? Date(), workerID: entry["worker_id"] as? String,
                message: entry["message"] as? String
            )
        }
    }

    /// The `GET /queue/throughput` object.
    package static func throughput(_ object: [String: Any]) -> [ThroughputBucket] {
        (object["minutes"] as? [[String: Any]] ?? []).map { bucket in
            ThroughputBucket(
                minute: date(bucket["minute"]) ?? Date(), completed: bucket["completed"] as? Int ?? 0,
                failed: bucket["failed"] as? Int ?? 0
            )
        }
    }

    /// The tasks of a `{"tasks": [...]}` object.
    package static func tasks(_ object: [String: Any]) throws(QueueError) -> [QueueTask] {
        try (object["tasks"] as? [[String: Any]] ?? []).map { item throws(QueueError) in try task(item) }
    }

    /// The leases of a `POST /queue/claim` answer.
    package static func leases(_ object: [String: Any]) throws(QueueError) -> [Lease] {
        try (object["tasks"] as? [[String: Any]] ?? []).map { item throws(QueueError) in
            let task = try task(item)
            guard let token = int64(item["lease_token"]) else {
                throw QueueError(.storage, "The server's claim answer has no lease token.")
            }
            return Lease(
                task: task, id: LeaseID(taskID: task.id, token: token), expiresAt: task.leaseExpiresAt ?? Date()
            )
        }
    }

    /// The `POST /queue/settle` answer: each outcome's task or error, and the new leases; with
    /// the task id each outcome names, in order.
    package static func settleResult(
        _ object: [String: Any]
    ) throws(QueueError) -> (result: SettleResult, taskIDs: [Int64]) {
        let items = object["outcomes"] as? [[String: Any]] ?? []
        let outcomes = try items.map {
            item throws(QueueError) -> Result<QueueTask, QueueError> in
            if item["status"] as? String == "ok", let task = item["task"] as? [String: Any] {
                return .success(try self.task(task))
            }
            let error: [String: Any] = ["code": item["status"] ?? "", "message": item["message"] ?? ""]
            return .failure(self.error(["error": error], status: 409))
        }
        return (SettleResult(outcomes: outcomes, leases: try leases(object)), items.map { int64($0["task_id"]) ?? 0 })
    }

    /// The `QueueError` an error answer stands for: its `code` by name, else by HTTP status.
    package static func error(_ object: [String: Any], status: Int) -> QueueError {
        let error = object["error"] as? [String: Any]
        let message = error?["message"] as? String ?? "The server answered HTTP \(status)."
        let code: QueueError.Code =
            switch error?["code"] as? String {
            case "invalid_request", "unsupported_media_type", "unauthorized": .invalidArgument
            case "not_found": .notFound
            case "conflict": .conflict
            case "lease_lost": .leaseLost
            case "payload_too_large": .payloadTooLarge
            case "busy": .busy
            default: status == 404 ? .notFound : .storage
            }
        return QueueError(code, message)
    }

    package static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { try? RFC3339.date(from: $0) }
    }

    package static func int64(_ value: Any?) -> Int64? {
        (value as? NSNumber)?.int64Value ?? (value as? String).flatMap { Int64($0) }
    }

    /// Any JSON value as text (Foundation re-encodes it: key order and number spelling may change).
    package static func json(_ value: Any?) -> RawJSON? {
        guard let value,
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        else { return nil }
        // Already parsed as JSON: kept as it is, whatever its depth.
        return RawJSON(unchecked: String(decoding: data, as: UTF8.self))
    }
}
