import Foundation

/// What a store does when a lease ends other than by completion — a failed attempt, a task
/// handed back, a lease that expired — decided in one place for every store, which then
/// applies the decision in its own write.
package struct LeaseEnding: Sendable, Equatable {
    /// What happens to the task.
    package enum Action: Sendable, Equatable {
        /// It ends in this state (`dead` or `cancelled`), its lease cleared.
        case finish(TaskStatus)
        /// It is queued again at `runAfter` (milliseconds since 1970) with this attempt count.
        case requeue(runAfter: Int64, attempts: Int)
    }

    /// What happens to the task.
    package var action: Action
    /// The task's `last_error` afterwards.
    package var error: String?
    /// The history row written for it.
    package var event: TaskLogEntry.Event
    /// That row's message.
    package var message: String

    /// A failed attempt of `task` (the lease's holder) at `now` (milliseconds since 1970):
    /// cancelled when cancellation was asked for, queued again after the policy's delay while
    /// it is retryable and attempts remain, else dead.
    package static func failed(
        _ task: QueueTask, error: String, retryable: Bool, retryPolicy: RetryPolicy, now: Int64
    ) -> LeaseEnding {
        if task.cancelRequested {
            return LeaseEnding(
                action: .finish(.cancelled), error: error, event: .cancelled,
                message: "stopped by its worker: \(error)")
        }
        let delay = retryPolicy.delay(afterAttempt: task.attempts)
        if let delay, retryable, task.attempts < task.maxAttempts {
            let runAfter = now + delay.storedMilliseconds
            let at = RFC3339.string(from: Date(timeIntervalSince1970: Double(runAfter) / 1000))
            return LeaseEnding(
                action: .requeue(runAfter: runAfter, attempts: task.attempts), error: error, event: .failed,
                message: "retry at \(at); \(error)")
        }
        let outcome =
            !retryable
            ? "dead: not retryable" : delay == nil ? "dead: the retry policy does not retry" : "dead: out of attempts"
        return LeaseEnding(action: .finish(.dead), error: error, event: .failed, message: "\(outcome); \(error)")
    }

    /// A task its worker handed back (at shutdown): queued again at once without spending the
    /// attempt, or cancelled when cancellation was asked for.
    package static func released(_ task: QueueTask, now: Int64) -> LeaseEnding {
        if task.cancelRequested {
            return LeaseEnding(
                action: .finish(.cancelled), error: "Cancelled while running.", event: .cancelled,
                message: "its worker shut down after cancellation was asked for")
        }
        return LeaseEnding(
            action: .requeue(runAfter: now, attempts: max(0, task.attempts - 1)), error: task.lastError,
            event: .released, message: "handed back at shutdown; the attempt is not spent")
    }

    /// A task whose lease ran out (found by a sweep): cancelled when cancellation was asked
    /// for, dead when out of attempts, else queued again at once (the attempt is spent).
    package static func expired(_ task: QueueTask, now: Int64) -> LeaseEnding {
        let error = "The lease of worker \(task.claimedBy ?? "?") expired."
        let (action, outcome): (Action, String) =
            if task.cancelRequested {
                (.finish(.cancelled), "cancelled")
            } else if task.attempts >= task.maxAttempts {
                (.finish(.dead), "dead: out of attempts")
            } else {
                (.requeue(runAfter: now, attempts: task.attempts), "queued again")
            }
        return LeaseEnding(action: action, error: error, event: .expired, message: outcome)
    }

    /// The completions of a batch of settlements that can share one statement, with their
    /// places in the batch: all of them when every lease appears once, else none (each is
    /// then settled on its own, in order).
    package static func batchedCompletions(
        _ settlements: [Settlement]
    ) -> [(index: Int, lease: LeaseID, result: RawJSON?)] {
        let leases = settlements.map(\.lease)
        guard Set(leases).count == leases.count else { return [] }
        return settlements.enumerated().compactMap { index, settlement in
            guard case .completed(let result) = settlement.outcome else { return nil }
            return (index, settlement.lease, result)
        }
    }
}
