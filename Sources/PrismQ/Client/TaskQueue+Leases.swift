import Foundation

/// The worker's side of the door: claims, renewals and outcomes, checked and measured here,
/// persisted by the store's ``LeaseStore`` role.
extension TaskQueue {
    /// Claims ready tasks (see ``LeaseStore/claim(_:)``).
    ///
    /// - Throws: `invalidArgument` for a request ``ClaimRequest/validate()`` refuses.
    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        try request.validate()
        let leases = try await leaseStore.claim(request)
        QueueMetrics.claimed(leases)
        return leases
    }

    /// Extends leases by `duration` from now; a lease no longer held comes back `.lost`.
    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        try TaskValidation.validateLease(duration)
        return try await leaseStore.renew(leases, for: duration)
    }

    /// Renews one lease.
    ///
    /// - Returns: the new expiry and whether cancellation was asked for.
    /// - Throws: `leaseLost` when the token is no longer current.
    public func renew(
        _ lease: LeaseID, for duration: Duration
    ) async throws(QueueError) -> (expiresAt: Date, cancelRequested: Bool) {
        let renewals = try await renew([lease], for: duration)
        guard case .renewed(let expiresAt, let cancelRequested) = renewals.first else {
            throw QueueError(.leaseLost, "The lease on \(lease) is no longer held.")
        }
        return (expiresAt, cancelRequested)
    }

    /// Completes a task while its lease is held.
    ///
    /// - Throws: `payloadTooLarge` or `invalidArgument` for a result beyond the limits (nothing
    ///   changes); `leaseLost`; `notFound`.
    @discardableResult
    public func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        try limits.validate(result: result)
        let task = try await leaseStore.complete(lease, result: result)
        QueueMetrics.finished(task, attemptFailed: false)
        return task
    }

    /// Fails an attempt while its lease is held: it runs again after the queue's
    /// ``TaskQueueConfiguration/retryPolicy`` delay while attempts remain and `retryable`
    /// holds; otherwise the task goes to `dead`. Messages longer than 8192 characters are cut.
    ///
    /// - Throws: `leaseLost`; `notFound`.
    @discardableResult
    public func fail(_ lease: LeaseID, error: String, retryable: Bool = true) async throws(QueueError) -> QueueTask {
        let task = try await leaseStore.fail(
            lease, error: Self.trimmed(error), retryable: retryable, retryPolicy: configuration.retryPolicy)
        QueueMetrics.finished(task, attemptFailed: true)
        return task
    }

    /// Hands a task back without spending the attempt (a worker shutting down).
    ///
    /// - Throws: `leaseLost`; `notFound`.
    @discardableResult
    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        let task = try await leaseStore.release(lease)
        QueueMetrics.finished(task, attemptFailed: false)
        return task
    }

    /// Records finished leases and claims more in one round: one transaction where the store
    /// can (see ``LeaseStore/settle(_:retryPolicy:thenClaim:)``). A completion whose result
    /// breaks the limits gets its own `payloadTooLarge` (or `invalidArgument`) outcome and
    /// changes nothing; its neighbours settle.
    ///
    /// - Throws: `invalidArgument` for the request (nothing changed), `busy`, `storage` (nothing
    ///   changed where the store shares one transaction; a store that settles one call at a
    ///   time, like a remote one, may have recorded the settlements before the failure).
    public func settle(
        _ settlements: [Settlement], thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        try request?.validate()
        var refused: [Int: QueueError] = [:]
        var accepted: [Settlement] = []
        for (index, settlement) in settlements.enumerated() {
            switch settlement.outcome {
            case .completed(let result):
                do throws(QueueError) {
                    try limits.validate(result: result)
                    accepted.append(settlement)
                } catch {
                    refused[index] = error
                }
            case .failed(let error, let retryable):
                accepted.append(Settlement(settlement.lease, .failed(error: Self.trimmed(error), retryable: retryable)))
            case .released:
                accepted.append(settlement)
            }
        }
        let stored = try await leaseStore.settle(
            accepted, retryPolicy: configuration.retryPolicy, thenClaim: request)
        guard stored.outcomes.count == accepted.count else {
            throw QueueError(
                .storage, "The store reported \(stored.outcomes.count) outcomes for \(accepted.count) settlements.")
        }
        var storedOutcomes = stored.outcomes.makeIterator()
        var outcomes: [Result<QueueTask, QueueError>] = []
        outcomes.reserveCapacity(settlements.count)
        for (index, settlement) in settlements.enumerated() {
            if let error = refused[index] {
                outcomes.append(.failure(error))
                continue
            }
            guard let outcome = storedOutcomes.next() else { break }
            if case .success(let task) = outcome {
                if case .failed = settlement.outcome {
                    QueueMetrics.finished(task, attemptFailed: true)
                } else {
                    QueueMetrics.finished(task, attemptFailed: false)
                }
            }
            outcomes.append(outcome)
        }
        QueueMetrics.claimed(stored.leases)
        return SettleResult(outcomes: outcomes, leases: stored.leases)
    }

    /// A failure message cut to ``TaskValidation/maxErrorLength`` characters.
    static func trimmed(_ error: String) -> String {
        error.count <= TaskValidation.maxErrorLength ? error : String(error.prefix(TaskValidation.maxErrorLength))
    }
}
