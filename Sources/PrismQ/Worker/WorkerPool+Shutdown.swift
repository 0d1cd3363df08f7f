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
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while runningCount > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            _ = await settled.wait(timeout: min(deadline - ContinuousClock.now, .milliseconds(100)))
        }
        let remaining = state.withLock { Array($0.running.keys) }
        for lease in remaining {
            stopHandler(lease, because: .shutdown)
        }
        // Handlers that ignore cancellation get a little longer; then their tasks are handed
        // back here, and whatever they return later is refused by the fencing token.
        let stopDeadline = ContinuousClock.now + .seconds(2)
        while runningCount > 0, ContinuousClock.now < stopDeadline {
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
