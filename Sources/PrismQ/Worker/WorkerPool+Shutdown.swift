import Foundation
import Logging
import Synchronization

/// Graceful shutdown: the grace period, then cancellation, then handing tasks back.
extension WorkerPool {
    /// Once the pool stops: lets running handlers finish within the grace period, then stops
    /// the rest (the work loop hands their tasks back), and hands back itself the tasks of
    /// handlers that ignore cancellation.
    func enforceGracePeriod() async {
        while !isStopping {
            _ = await stopSignal.wait(timeout: .seconds(3600))
        }
        let grace = Countdown(configuration.shutdownGracePeriod, on: configuration.clock)
        while hasWork, grace.remaining > .zero, !Task.isCancelled {
            _ = await settled.wait(timeout: min(grace.remaining, .milliseconds(100)))
        }
        // The grace is over: the running handlers stop now, and so does any a claim still in
        // the store starts later (see `start`).
        let remaining = state.withLock { state in
            state.graceOver = true
            return Array(state.running.keys)
        }
        for lease in remaining {
            stopHandler(lease, because: .shutdown)
        }
        // Handlers that ignore cancellation, and a claim still in the store, get a little
        // longer; then the tasks still held are handed back here, and whatever their handlers
        // return later is refused by the fencing token. (A claim that comes back later starts
        // its handlers stopped, so the work loop hands its tasks back.)
        let last = Countdown(.seconds(2), on: configuration.clock)
        while hasWork, last.remaining > .zero {
            // A detached wait, so that a cancelled pool still gives its handlers the time.
            _ = await Task.detached { await self.settled.wait(timeout: .milliseconds(20)) }.value
        }
        let stuck = state.withLock { state -> [LeaseID] in
            let unsettled = Set(state.unsettled.map(\.settlement.lease))
            let stuck = state.running.keys.filter { !unsettled.contains($0) }
            for lease in stuck { state.running.removeValue(forKey: lease) }
            return stuck
        }
        wakeup.notify()
        for lease in stuck {
            _ = try? await Task.detached { try await self.queue.release(lease) }.value
        }
    }
}

extension WorkerPool {
    /// Whether handlers run, or a claim is in the store whose tasks will.
    var hasWork: Bool {
        state.withLock { !$0.running.isEmpty || $0.claimsInFlight > 0 }
    }
}

/// Time left of a duration started now on a clock.
struct Countdown: Sendable {
    private let left: @Sendable () -> Duration

    /// Starts counting `duration` down on `clock`.
    init(_ duration: Duration, on clock: some Clock<Duration>) {
        let start = clock.now
        left = { duration - start.duration(to: clock.now) }
    }

    /// What is left (negative once over).
    var remaining: Duration { left() }
}
