/// The one home of waiting for work, shared by the worker pool's idle loop and the server's
/// long-poll claims: it wakes a loop's signal on an enqueue through the queue and on a commit
/// in any process, and tells which capability sets have a task ready and when the next delayed
/// one is due. The loops keep only their own policy (how long to sleep, whom to wake).
package struct WorkWatch: Sendable {
    /// What one look at the ready set found.
    package struct Look: Sendable {
        /// The capability sets with a task ready now.
        package var ready: [[String]]
        /// How long until the next delayed task of any set is due; `nil` when none is known.
        package var due: Duration?

        /// Nothing ready, nothing due.
        package static let nothing = Look(ready: [], due: nil)
    }

    private let queue: TaskQueue
    private let signal: WakeupSignal
    private let commits: CommitWatch?

    /// Subscribes `signal` to enqueues through `queue` and to the store's commits.
    package init(queue: TaskQueue, signal: WakeupSignal) {
        self.queue = queue
        self.signal = signal
        queue.wakeups.add(signal)
        commits = queue.watchCommits { [signal] in signal.notify() }
    }

    /// Whether commits of other processes wake the loop (a store with the readiness role);
    /// without it, a loop learns of work only by claiming.
    package var seesCommits: Bool { commits != nil }

    /// Ends the subscription.
    package func close() {
        queue.wakeups.remove(signal)
        commits?.cancel()
    }

    /// Asks the store, for each capability set (empty: any type), whether a task is ready.
    package func look(at sets: [[String]]) async throws(QueueError) -> Look {
        var look = Look.nothing
        for capabilities in sets {
            guard let untilReady = try await queue.timeUntilReady(capabilities: capabilities) else { continue }
            if untilReady == .zero {
                look.ready.append(capabilities)
            } else {
                look.due = min(look.due ?? untilReady, untilReady)
            }
        }
        return look
    }

    /// Sleeps until the signal is notified or `duration` passes.
    ///
    /// - Returns: `true` when notified.
    package func sleep(_ duration: Duration) async -> Bool {
        await signal.wait(timeout: duration)
    }
}
