import Foundation
import PrismQ

extension QueueStats {
    /// The contract's `GET /queue/stats` body as JSON text.
    package var json: String {
        func counts(_ values: [TaskStatus: Int]) -> String {
            var writer = JSONWriter()
            for status in TaskStatus.allCases {
                writer.add(status.rawValue, values[status] ?? 0)
            }
            return writer.json
        }
        var byTypeWriter = JSONWriter()
        for type in byType.keys.sorted() {
            byTypeWriter.add(type, raw: counts(byType[type] ?? [:]))
        }
        var throughput = JSONWriter()
        throughput.add("completed_last_minute", completedLastMinute)
        throughput.add("completed_last_hour", completedLastHour)
        throughput.add("failed_last_minute", failedLastMinute)
        throughput.add("failed_last_hour", failedLastHour)
        throughput.add("completed_last_day", completedLastDay)
        throughput.add("failed_last_day", failedLastDay)
        var activity = JSONWriter()
        for (type, recent) in activityByType.sorted(by: { $0.key < $1.key }) {
            var one = JSONWriter()
            one.add("oldest_ready_age_seconds", recent.oldestReadyAgeSeconds)
            for (name, counts) in [("completed", recent.completed), ("failed", recent.failed)] {
                one.add("\(name)_last_minute", counts.lastMinute)
                one.add("\(name)_last_hour", counts.lastHour)
                one.add("\(name)_last_day", counts.lastDay)
            }
            activity.add(type, raw: one.json)
        }
        var workers = JSONWriter()
        workers.add("active", activeWorkers)
        workers.add("stale", staleWorkers)
        var writer = JSONWriter()
        writer.add("by_status", raw: counts(byStatus))
        writer.add("by_type", raw: byTypeWriter.json)
        writer.add("oldest_ready_age_seconds", oldestReadyAgeSeconds)
        writer.add("throughput", raw: throughput.json)
        writer.add("workers", raw: workers.json)
        writer.add("activity_by_type", raw: activity.json)
        return writer.json
    }
}

extension TaskPage {
    /// The contract's `GET /queue/tasks` body as JSON text.
    package var json: String {
        var writer = JSONWriter()
        writer.add("tasks", raw: JSONText.array(tasks.map { $0.json() }))
        writer.add("next_cursor", nextCursor?.description)
        return writer.json
    }
}

extension TaskLogEntry {
    /// One history entry as JSON text.
    package var json: String {
        var writer = JSONWriter()
        writer.add("id", id)
        writer.add("task_id", taskID)
        writer.add("event", event.rawValue)
        writer.add("at", at)
        writer.add("worker_id", workerID)
        writer.add("message", message)
        return writer.json
    }
}

extension WorkerInfo {
    /// The contract's worker object as JSON text.
    package var json: String {
        var writer = JSONWriter()
        writer.add("id", id)
        writer.add("hostname", hostname)
        writer.add("pid", pid.map { Int64($0) })
        writer.add("capabilities", raw: JSONText.array(capabilities.map(JSONText.quoted)))
        writer.add("strategy", strategy)
        writer.add("started_at", startedAt)
        writer.add("last_heartbeat_at", lastHeartbeatAt)
        writer.add("state", state.rawValue)
        writer.add("current_tasks", currentTasks)
        return writer.json
    }
}

extension ThroughputBucket {
    /// One minute of the throughput chart as JSON text.
    package var json: String {
        var writer = JSONWriter()
        writer.add("minute", minute)
        writer.add("completed", completed)
        writer.add("failed", failed)
        return writer.json
    }
}
