import PrismQ
import Synchronization

/// The long-poll claims waiting for work, woken one at a time.
///
/// One loop watches for work on behalf of every waiter: it is woken by an enqueue through this
/// server and by commits of other processes, reads once per distinct set of capabilities
/// whether a task is ready, and wakes only the oldest waiter of each set that has one. That
/// waiter claims and hands on (``attempted(_:)``), so the next one is woken only while tasks
/// remain: a commit costs a few reads, not one per waiter. The loop runs only while someone
/// waits, and for ``linger`` after. At most ``limit`` claims wait at once; more are refused
/// with `busy`.
final class ClaimWaitRoom: Sendable {
    /// One waiting claim.
    final class Waiter: Sendable {
        let id: Int
        let capabilities: [String]
        /// Notified when it should claim, or when its client went away.
        let signal = WakeupSignal()
        private let gone = Atomic(false)

        /// Whether its client disconnected.
        var isGone: Bool { gone.load(ordering: .relaxed) }

        /// Its client disconnected: it stops waiting.
        func clientLeft() {
            gone.store(true, ordering: .relaxed)
            signal.notify()
        }

        init(id: Int, capabilities: [String]) {
            self.id = id
            self.capabilities = capabilities
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
    /// The most claims that may wait at once.
    let limit: Int
    /// The longest the loop sleeps without a wake-up.
    let recheck: Duration
    private let state = Locked(State())
    /// Wakes the loop: an enqueue, a commit, a waiter handing on.
    private let signal = WakeupSignal()

    init(queue: TaskQueue, limit: Int, recheck: Duration = .milliseconds(250)) {
        self.queue = queue
        self.limit = limit
        self.recheck = recheck
    }

    /// How many claims wait now.
    var count: Int { state.withLock { $0.waiters.count } }

    /// Enters a claim for tasks of `capabilities` (empty: any).
    ///
    /// - Throws: `busy` when ``limit`` claims already wait.
    func enter(capabilities: [String]) throws(QueueError) -> Waiter {
        let (waiter, startLoop) = try state.withLock { state throws(QueueError) in
            guard state.waiters.count < limit else {
                throw QueueError(.busy, "Too many claims are waiting (\(limit)); try again shortly.")
            }
            state.nextID += 1
            let waiter = Waiter(id: state.nextID, capabilities: Array(Set(capabilities)).sorted())
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

    /// Takes a waiter out, whatever became of it; the loop looks again when it was woken (to
    /// hand on) or was the last (so that the loop lingers from now, not from its next recheck).
    func leave(_ waiter: Waiter) {
        let wakeLoop = state.withLock { state in
            state.waiters.removeAll { $0 === waiter }
            return state.woken.remove(waiter.id) != nil || state.waiters.isEmpty
        }
        if wakeLoop { signal.notify() }
    }

    /// A woken waiter claimed (it leaves at once, so it is not woken again) or found nothing;
    /// the loop looks again, so the next waiter is woken if tasks remain.
    func attempted(_ waiter: Waiter, claimed: Bool) {
        state.withLock { state in
            state.woken.remove(waiter.id)
            if claimed { state.waiters.removeAll { $0 === waiter } }
        }
        signal.notify()
    }

    /// How long the loop stays after its last waiter left (at most ``recheck``): a worker's
    /// next long-poll then finds the loop, and its subscription (on PostgreSQL, its `LISTEN`
    /// connection), still there.
    static let linger = Duration.milliseconds(250)

    /// What the loop does next.
    private enum Step {
        /// Look for these waiters (the oldest idle one of each capability set).
        case look([[String]: Waiter])
        /// Nobody waits: stay a while.
        case linger
        /// Nobody came back: the loop has ended.
        case end
    }

    /// The loop: while anyone waits, wake the oldest idle waiter of each capability set that has
    /// a ready task, then sleep until a wake-up or the next delayed task is due (at most
    /// ``recheck``). Once nobody waits, it stays for ``linger``, then ends.
    private func watch() async {
        let watch = WorkWatch(queue: queue, signal: signal)
        let clock = ContinuousClock()
        let linger = min(recheck, Self.linger)
        var emptySince: ContinuousClock.Instant?
        while true {
            let lingerLeft = emptySince.map { linger - $0.duration(to: clock.now) } ?? linger
            let step: Step = state.withLock { state in
                if state.waiters.isEmpty {
                    guard emptySince != nil, lingerLeft <= .zero else { return .linger }
                    // Unsubscribed under the lock, so a loop started right after is not undone.
                    watch.close()
                    state.loopRunning = false
                    return .end
                }
                var busy = Set(state.waiters.filter { state.woken.contains($0.id) }.map(\.capabilities))
                var oldest: [[String]: Waiter] = [:]
                for waiter in state.waiters where !busy.contains(waiter.capabilities) {
                    oldest[waiter.capabilities] = waiter
                    busy.insert(waiter.capabilities)
                }
                return .look(oldest)
            }
            switch step {
            case .end:
                return
            case .linger:
                if emptySince == nil { emptySince = clock.now }
                _ = await watch.sleep(lingerLeft)  // an entering waiter wakes it
            case .look(let candidates):
                emptySince = nil
                let look = (try? await watch.look(at: Array(candidates.keys))) ?? .nothing
                for capabilities in look.ready {
                    guard let waiter = candidates[capabilities] else { continue }
                    let stillWaiting = state.withLock { state in
                        guard state.waiters.contains(where: { $0 === waiter }) else { return false }
                        state.woken.insert(waiter.id)
                        return true
                    }
                    if stillWaiting { waiter.signal.notify() }
                }
                _ = await watch.sleep(min(recheck, look.due ?? recheck))
            }
        }
    }
}
