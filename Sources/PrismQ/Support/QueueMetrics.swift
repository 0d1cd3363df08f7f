import Foundation
import Metrics

/// The metrics PrismQ reports through swift-metrics. Names are fixed; the task type is a
/// dimension, never part of a name.
package enum QueueMetrics {
    private static func count(_ name: String, _ type: String, by amount: Int = 1) {
        Counter(label: name, dimensions: [("type", type)]).increment(by: amount)
    }

    private static func seconds(_ name: String, _ type: String, from start: Date?, to end: Date?) {
        guard let start, let end else { return }
        Timer(label: name, dimensions: [("type", type)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(Int64(max(0, end.timeIntervalSince(start)) * 1e9))
    }

    /// Tasks created by an enqueue (not those an idempotency key returned).
    package static func enqueued(_ results: [EnqueueResult]) {
        for result in results where result.created {
            count("prismq_tasks_enqueued_total", result.task.type)
        }
    }

    /// Claims, and how long each task waited once it was ready.
    package static func claimed(_ leases: [Lease]) {
        for lease in leases {
            count("prismq_tasks_claimed_total", lease.task.type)
            seconds(
                "prismq_task_queue_wait_seconds", lease.task.type, from: lease.task.runAfter, to: lease.task.claimedAt)
        }
    }

    /// The outcome of a complete or fail: completed (with the attempt's duration), a failed
    /// attempt, dead or cancelled.
    package static func finished(_ task: QueueTask, attemptFailed: Bool) {
        switch task.status {
        case .completed:
            count("prismq_tasks_completed_total", task.type)
            seconds("prismq_task_duration_seconds", task.type, from: task.claimedAt, to: task.completedAt)
        case .dead:
            count("prismq_tasks_failed_total", task.type)
            count("prismq_tasks_dead_total", task.type)
        case .cancelled:
            count("prismq_tasks_cancelled_total", task.type)
        default:
            if attemptFailed { count("prismq_tasks_failed_total", task.type) }
        }
    }

    /// A task cancelled through the queue (queued → cancelled).
    package static func cancelled(_ task: QueueTask) {
        if task.status == .cancelled { count("prismq_tasks_cancelled_total", task.type) }
    }

    /// Leases the sweeper found expired.
    package static func leasesExpired(_ amount: Int) {
        guard amount > 0 else { return }
        Counter(label: "prismq_lease_expiries_total").increment(by: amount)
    }
}
