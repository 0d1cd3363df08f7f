import Foundation
import Logging
import Synchronization

/// Background work beside the loop: lease renewal with the registry heartbeat, and sweeping.
extension WorkerPool {

    /// Renews the leases of running handlers every third of the lease, stops handlers whose
    /// task was cancelled or whose lease was lost, and heartbeats the registry.
    func renewLeases() async {
        let interval = min(configuration.leaseDuration / 3, configuration.registryHeartbeat)
        var sinceHeartbeat = Duration.zero
        while !Task.isCancelled {
            if await backgroundStop.wait(timeout: interval) { return }
            sinceHeartbeat += interval
            let leases = state.withLock { $0.running.values.map(\.lease.id) }
            do {
                if !leases.isEmpty {
                    let renewals = try await queue.renew(leases, for: configuration.leaseDuration)
                    for (lease, renewal) in zip(leases, renewals) {
                        switch renewal {
                        case .lost: stopHandler(lease, because: .leaseLost)
                        case .renewed(_, cancelRequested: true): stopHandler(lease, because: .cancelRequested)
                        case .renewed: break
                        }
                    }
                }
                if sinceHeartbeat >= configuration.registryHeartbeat {
                    sinceHeartbeat = .zero
                    try await queue.workerHeartbeat(id: configuration.workerID)
                }
            } catch  where !Task.isCancelled {
                logger.warning("Lease renewal failed", metadata: ["prismq.error": "\(error)"])
            } catch {
                return
            }
        }
    }

    func sweep(every interval: Duration) async {
        let sweeper = Sweeper(queue: queue, interval: interval, logger: logger)
        while !Task.isCancelled {
            do {
                try await sweeper.sweep()
            } catch {
                logger.warning("Sweep failed", metadata: ["prismq.error": "\(error)"])
            }
            if await backgroundStop.wait(timeout: interval) { return }
        }
    }
}
