import Foundation
import PrismQ

/// Reads the REST contract's JSON objects back into model values (for ``RemoteStore``).
enum RemoteTask {
    /// A task object.
    static func decode(_ object: [String: Any]) throws(QueueError) -> QueueTask {
        guard let id = int64(object["id"]), let type = object["type"] as? String,
            let status = (object["status"] as? String).flatMap(TaskStatus.init(rawValue:)),
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
            timeout: (object["timeout_seconds"] as? Double).map { .milliseconds(Int64(($0 * 1000).rounded())) }
        )
    }

    /// The `GET /queue/stats` object.
    static func stats(_ object: [String: Any]) -> QueueStats {
        func counts(_ value: Any?) -> [TaskStatus: Int] {
            let raw = value as? [String: Int] ?? [:]
            return Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, raw[$0.rawValue] ?? 0) })
        }
        let throughput = object["throughput"] as? [String: Int] ?? [:]
        let workers = object["workers"] as? [String: Int] ?? [:]
        return QueueStats(
            byStatus: counts(object["by_status"]),
            byType: (object["by_type"] as? [String: Any] ?? [:]).mapValues(counts),
            oldestReadyAgeSeconds: object["oldest_ready_age_seconds"] as? Double,
            completedLastMinute: throughput["completed_last_minute"] ?? 0,
            completedLastHour: throughput["completed_last_hour"] ?? 0,
            failedLastMinute: throughput["failed_last_minute"] ?? 0,
            failedLastHour: throughput["failed_last_hour"] ?? 0,
            activeWorkers: workers["active"] ?? 0, staleWorkers: workers["stale"] ?? 0
        )
    }

    /// The `GET /queue/workers` object.
    static func workers(_ object: [String: Any]) -> [WorkerInfo] {
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

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { try? RFC3339.date(from: $0) }
    }

    static func int64(_ value: Any?) -> Int64? {
        (value as? NSNumber)?.int64Value ?? (value as? String).flatMap { Int64($0) }
    }

    /// Any JSON value as text (Foundation re-encodes it: key order and number spelling may change).
    static func json(_ value: Any?) -> RawJSON? {
        guard let value,
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        else { return nil }
        // Already parsed as JSON: kept as it is, whatever its depth.
        return RawJSON(unchecked: String(decoding: data, as: UTF8.self))
    }
}
