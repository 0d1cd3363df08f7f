import Synchronization

/// Waiters for work, woken one at a time: the server's long-poll claims (in the core so that
/// any front end waiting on a ``TaskQueue`` can share it).
///
/// One loop watches for work on behalf of every waiter: it is woken by an enqueue through the
/// queue and by commits of other processes (``TaskQueue/watchCommits(_:)``), reads once per
/// distinct set of capabilities whether a task is ready, and wakes only the oldest waiter of
/// each set that has one; it looks again when the next delayed task is due, and at least
/// every look-again interval. That waiter claims and hands on (``attempted(_:claimed:)``, or
/// ``leave(_:)``), so the next one is woken only while tasks remain: a commit costs a few
/// reads, not one per waiter. The loop runs only while someone waits.
package final class WorkWaitRoom: Sendable {
    /// One waiter.
    package final class Waiter: Sendable {
        let id: Int
        let capabilities: [String]
        /// Notified when it should claim, or when its client went away.
        package let signal: WakeupSignal
        private let gone = Atomic(false)

        /// Whether its client disconnected.
        package var isGone: Bool { gone.load(ordering: .relaxed) }

        /// Its client disconnected: it stops waiting.
        package func clientLeft() {
            gone.store(true, ordering: .relaxed)
            signal.notify()
        }

        init(id: Int, capabilities: [String], signal: WakeupSignal) {
            self.id = id
            self.capabilities = capabilities
            self.signal = signal
        }
    }

    private struct State {
        /// Waiting, oldest first.
        var waiters: [Waiter] = []
        /// Those woken that have not yet reported their claim.
        var woken: Set<Int> = []
        var nextID = 0
        var loopRunning = false
    }

    private let queue: TaskQueue
    /// The most waiters at once; `nil` for no limit.
    package let limit: Int?
    /// The longest the loop sleeps between looks when nothing wakes it.
    private let lookAgain: Duration
    private let state = Mutex(State())
    /// Wakes the loop: an enqueue, a commit, a waiter handing on.
    private let signal = WakeupSignal()

    /// A room for waiters on `queue`, at most `limit` at once (`nil`: no limit), that looks
    /// for work at least every `lookAgain` (default: 250 ms) besides when woken.
    package init(queue: TaskQueue, limit: Int? = nil, lookAgain: Duration = .milliseconds(250)) {
        self.queue = queue
        self.limit = limit
        self.lookAgain = lookAgain
    }

    /// How many wait now.
    package var count: Int { state.withLock { $0.waiters.count } }

    /// Enters a waiter for tasks of `capabilities` (empty: any), woken through `signal`
    /// (default: a signal of its own).
    ///
    /// - Throws: `busy` when ``limit`` already wait.
    package func enter(capabilities: [String], signal: WakeupSignal = WakeupSignal()) throws(QueueError) -> Waiter {
        let (waiter, startLoop) = try state.withLock { state throws(QueueError) in
            if let limit, state.waiters.count >= limit {
                throw QueueError(.busy, "Too many claims are waiting (\(limit)); try again shortly.")
            }
            state.nextID += 1
            let waiter = Waiter(
                id: state.nextID, capabilities: Array(Set(capabilities)).sorted(), signal: signal)
            state.waiters.append(waiter)
            defer { state.loopRunning = true }
            return (waiter, !state.loopRunning)
        }
        if startLoop {
            Task { await self.watch() }
        } else {
            signal.notify()
        }
        return waiter
    }

    /// Takes a waiter out, whatever became of it; a woken one hands on.
    package func leave(_ waiter: Waiter) {
        let handOn = state.withLock { state in
            state.waiters.removeAll { $0 === waiter }
            return state.woken.remove(waiter.id) != nil
        }
        if handOn { signal.notify() }
    }

    /// A woken waiter claimed (it leaves at once, so it is not woken again) or found nothing;
    /// the loop looks again, so the next waiter is woken if tasks remain.
    package func attempted(_ waiter: Waiter, claimed: Bool) {
        state.withLock { state in
            state.woken.remove(waiter.id)
            if claimed { state.waiters.removeAll { $0 === waiter } }
        }
        signal.notify()
    }

    /// The loop: while anyone waits, wake the oldest idle waiter of each capability set that has
    /// a ready task, then sleep until a wake-up or the next delayed task is due (at most
    /// ``lookAgain``).
    private func watch() async {
        queue.wakeups.add(signal)
        let commits = queue.watchCommits { [signal] in signal.notify() }
        while true {
            let candidates: [[String]: Waiter]? = state.withLock { state in
                if state.waiters.isEmpty {
                    // Unsubscribed under the lock, so a loop started right after is not undone.
                    queue.wakeups.remove(signal)
                    commits?.cancel()
                    state.loopRunning = false
                    return nil
                }
                var busy = Set(state.waiters.filter { state.woken.contains($0.id) }.map(\.capabilities))
                var oldest: [[String]: Waiter] = [:]
                for waiter in state.waiters where !busy.contains(waiter.capabilities) {
                    oldest[waiter.capabilities] = waiter
                    busy.insert(waiter.capabilities)
                }
                return oldest
            }
            guard let candidates else { return }
            var sleep = lookAgain
            for (capabilities, waiter) in candidates {
                guard let untilReady = try? await queue.timeUntilReady(capabilities: capabilities) else {
                    continue
                }
                if untilReady == .zero {
                    let stillWaiting = state.withLock { state in
                        guard state.waiters.contains(where: { $0 === waiter }) else { return false }
                        state.woken.insert(waiter.id)
                        return true
                    }
                    if stillWaiting { waiter.signal.notify() }
                } else {
                    sleep = min(sleep, untilReady)
                }
            }
            _ = await signal.wait(timeout: sleep)
        }
    }
}
