import Synchronization

/// Wakes sleeping loops: `notify()` ends every current `wait`, or the next one.
///
/// A notification that comes while nobody waits is kept until the next `wait`, so a wake-up
/// is never lost between checking for work and going to sleep.
package final class WakeupSignal: Sendable {
    private struct State {
        var pending = false
        var enqueued = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Locked(State())
    private let clock: any Clock<Duration>

    /// A signal whose waits time out on `clock`.
    package init(clock: any Clock<Duration> = ContinuousClock()) {
        self.clock = clock
    }

    /// Ends every current wait, or the next one when nobody waits.
    package func notify() {
        let waiters = state.withLock { state in
            if state.waiters.isEmpty { state.pending = true }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Notifies, and says that a task was enqueued in this process (see ``takeEnqueued()``).
    package func notifyEnqueued() {
        state.withLock { $0.enqueued = true }
        notify()
    }

    /// Whether ``notifyEnqueued()`` was called since the last call of this method.
    package func takeEnqueued() -> Bool {
        state.withLock { state in
            defer { state.enqueued = false }
            return state.enqueued
        }
    }

    /// Waits until notified or until `timeout` passes on the signal's clock.
    ///
    /// - Returns: `true` when notified.
    package func wait(timeout: Duration) async -> Bool {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) {
            return true
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForNotification()
                return !Task.isCancelled
            }
            group.addTask {
                try? await self.clock.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func waitForNotification() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// The signals of the worker pools fed by one ``TaskQueue``: an enqueue notifies them all.
package final class WakeupBroadcaster: Sendable {
    private let signals = Locked<[ObjectIdentifier: WakeupSignal]>([:])

    package init() {}

    package func add(_ signal: WakeupSignal) {
        signals.withLock { $0[ObjectIdentifier(signal)] = signal }
    }

    package func remove(_ signal: WakeupSignal) {
        _ = signals.withLock { $0.removeValue(forKey: ObjectIdentifier(signal)) }
    }

    package func notifyAll() {
        for signal in signals.withLock({ Array($0.values) }) {
            signal.notifyEnqueued()
        }
    }
}
