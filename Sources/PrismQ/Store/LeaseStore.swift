import Foundation

/// The worker's role of a store: claims under leases, renewals, and the outcomes of leased
/// tasks, each fenced by the lease's token so that a worker whose lease passed on changes
/// nothing.
///
/// Like every role, it persists what ``TaskQueue`` has already checked.
public protocol LeaseStore: Sendable {
    /// Moves up to `request.maxTasks` ready tasks (queued, `runAfter` passed, of the worker's
    /// types when it names any) to `running` in one transaction, each under a fresh lease and
    /// fencing token, picked by the request's strategy. Registers or refreshes the worker.
    func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease]

    /// Extends each lease by `duration` from now; a lease whose token is no longer current
    /// comes back `.lost` and nothing changes for it.
    func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal]

    /// Completes the task, while the token is current.
    ///
    /// - Throws: `leaseLost` (nothing changes) when it is not; `notFound` for an unknown task.
    func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask

    /// Fails the attempt, while the token is current: the task is queued again after the delay
    /// `retryPolicy` gives for its attempt, or goes to `dead` when out of attempts, when the
    /// policy does not retry or when `retryable` is `false`; a task whose cancellation was
    /// asked for ends `cancelled`. (The policy travels with the call because the delay depends
    /// on the attempt count, which the write that changes the row knows.)
    ///
    /// - Throws: `leaseLost` (nothing changes) when the token is not current; `notFound` for an
    ///   unknown task.
    func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask

    /// Hands the task back to `queued` without spending the attempt (graceful shutdown).
    ///
    /// - Throws: `leaseLost` when the token is not current.
    func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask

    /// Records each settlement's outcome (failures under `retryPolicy`), then claims as
    /// `request` asks (when given), in one transaction where the store can: a busy worker's
    /// steady state is one write per round, however many tasks it finishes and starts.
    ///
    /// - Returns: each settlement's task afterwards or its own error (`leaseLost`,
    ///   `notFound`), and the new leases.
    /// - Throws: only when nothing changed (`busy`, `storage`), where the store shares one
    ///   transaction; the default implementation (one call per settlement) may have recorded
    ///   the settlements before the one that failed.
    func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult
}

extension LeaseStore {
    /// Settles one lease at a time, then claims: for stores that cannot share a transaction.
    public func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        var outcomes: [Result<QueueTask, QueueError>] = []
        for settlement in settlements {
            do throws(QueueError) {
                let lease = settlement.lease
                switch settlement.outcome {
                case .completed(let result):
                    outcomes.append(.success(try await complete(lease, result: result)))
                case .failed(let error, let retryable):
                    outcomes.append(
                        .success(try await fail(lease, error: error, retryable: retryable, retryPolicy: retryPolicy)))
                case .released:
                    outcomes.append(.success(try await release(lease)))
                }
            } catch
                where error.code == .leaseLost || error.code == .notFound || error.code == .payloadTooLarge
                || error.code == .invalidArgument
            {
                outcomes.append(.failure(error))
            }
        }
        guard let request else { return SettleResult(outcomes: outcomes, leases: []) }
        return SettleResult(outcomes: outcomes, leases: try await claim(request))
    }
}
