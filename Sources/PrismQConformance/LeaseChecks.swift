import Foundation
import PrismQ

/// Leases: expiry, fencing, renewal, cancellation, failures, backoff, dead letters, release.
enum LeaseChecks {
    static let all: [ConformanceCheck] = [
        ConformanceCheck("anExpiredLeaseIsReclaimedAndTheStaleTokenChangesNothing", staleTokensChangeNothing),
        ConformanceCheck("aClockJumpForwardEndsLeasesEarlyAndAJumpBackLengthensThem", clockJumps),
        ConformanceCheck("renewalExtendsTheLeaseAndReportsCancellation", renewalReportsCancellation),
        ConformanceCheck(
            "aCancelRequestedTaskThatCompletesEndsCompletedAndOneWhoseLeaseExpiresEndsCancelled",
            cancelRequestedEndings),
        ConformanceCheck("failuresRetryAfterThePolicysDelayThenGoDead", failuresRetryThenGoDead),
        ConformanceCheck("theRetryPolicyIsAppliedToTheFailedAttempt", retryPolicyPerAttempt),
        ConformanceCheck("nonRetryableFailuresAndExhaustedLeasesGoDead", nonRetryableFailuresGoDead),
        ConformanceCheck("releaseHandsTheTaskBackWithoutSpendingTheAttempt", releaseRefundsTheAttempt),
        ConformanceCheck("resultsBeyondTheLimitsAreRefusedAndChangeNothing", oversizedResultsAreRefused),
    ]

    /// Leases are instants of the store's clock: a jump of it forward ends them early (the task
    /// runs again, the late holder's completion is refused); a jump back holds them longer, as
    /// long as the jump, and never ends one early.
    static func clockJumps(_ h: StoreHarness) async throws {
        let forward = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let before = try require(try await h.claim(worker: "before").first)
        h.clock.jump(by: .seconds(3600))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1, "an hour's jump ends a 10 s lease")
        let after = try require(try await h.claim(worker: "after").first)
        try await expect(throws: .leaseLost) { try await h.queue.complete(before.id, result: .null) }
        _ = try await h.queue.complete(after.id, result: .null)
        let done = try await h.queue.task(id: forward)
        try expect(done.status == .completed && done.claimedBy == "after" && done.attempts == 2)

        let back = try await h.queue.enqueue(NewTask(type: "t")).task.id
        _ = try require(try await h.claim(worker: "held").first)
        h.clock.jump(by: .seconds(-3600))
        h.clock.advance(by: .seconds(11))
        try expect(try await h.queue.requeueExpired(limit: 10) == 0, "a jump back never ends a lease early")
        h.clock.jump(by: .seconds(3600))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1, "the lease ends at its instant")
        try expect(try await h.queue.task(id: back).status == .queued)
    }

    static func staleTokensChangeNothing(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let first = try require(try await h.claim(worker: "slow").first)
        h.clock.advance(by: .seconds(5))
        try expect(try await h.queue.requeueExpired(limit: 10) == 0, "the lease has not run out")
        h.clock.advance(by: .seconds(6))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1)
        let requeued = try await h.queue.task(id: id)
        try expect(requeued.status == .queued && requeued.lastError?.contains("slow") == true)
        let second = try require(try await h.claim(worker: "fast").first)
        try expect(second.id.token != first.id.token && second.task.attempts == 2)

        try await expect(throws: .leaseLost) { try await h.queue.complete(first.id, result: .null) }
        try await expect(throws: .leaseLost) { try await h.queue.fail(first.id, error: "late") }
        try await expect(throws: .leaseLost) { try await h.queue.release(first.id) }
        try expect(try await h.queue.renew([first.id], for: .seconds(10)) == [.lost])
        let untouched = try await h.queue.task(id: id)
        try expect(
            untouched.status == .running && untouched.claimedBy == "fast" && untouched.leaseToken == second.id.token)

        let done = try await h.queue.complete(second.id, result: try RawJSON(validating: #"{"ok":true}"#))
        try expect(done.status == .completed && done.result?.text == #"{"ok":true}"#)
        try expect(try await h.queue.task(id: id).result?.text == #"{"ok":true}"#)
        try await expect(throws: .leaseLost) { try await h.queue.complete(second.id, result: nil) }
        let completions = try await h.queue.logs(taskID: id).filter { $0.event == .completed }
        try expect(completions.count == 1)
    }

    static func renewalReportsCancellation(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let lease = try require(try await h.claim().first)
        h.clock.advance(by: .seconds(8))
        let renewed = try await h.queue.renew(lease.id, for: .seconds(10))
        try expect(renewed.expiresAt == h.clock.now().addingTimeInterval(10) && !renewed.cancelRequested)
        try expect(try await h.queue.task(id: id).leaseExpiresAt == renewed.expiresAt)
        h.clock.advance(by: .seconds(8))
        try expect(try await h.queue.requeueExpired(limit: 10) == 0, "the renewed lease still holds")
        _ = try await h.queue.cancel(id: id)
        try expect(try await h.queue.renew(lease.id, for: .seconds(10)).cancelRequested)
        let stopped = try await h.queue.fail(lease.id, error: "stopped")
        try expect(stopped.status == .cancelled && stopped.completedAt == h.clock.now())
        try expect(try await h.claim().isEmpty, "a cancelled task is never claimed again")
    }

    static func cancelRequestedEndings(_ h: StoreHarness) async throws {
        let ids = try await h.queue.enqueue(batch: [NewTask(type: "t"), NewTask(type: "t")]).map(\.task.id)
        let leases = try await h.claim(max: 2)
        _ = try await h.queue.cancel(id: ids[0])
        _ = try await h.queue.cancel(id: ids[1])
        try expect(try await h.queue.complete(leases[0].id, result: nil).status == .completed)
        h.clock.advance(by: .seconds(11))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1)
        try expect(try await h.queue.task(id: ids[1]).status == .cancelled)
    }

    static func failuresRetryThenGoDead(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t", maxAttempts: 2)).task.id
        let first = try require(try await h.claim().first)
        let retrying = try await h.queue.fail(first.id, error: "boom 1")
        try expect(retrying.status == .queued && retrying.lastError == "boom 1")
        try expect(retrying.runAfter == h.clock.now().addingTimeInterval(4), "the policy's 4 s")
        try expect(try await h.claim().isEmpty)
        h.clock.advance(by: .seconds(4))
        let second = try require(try await h.claim().first)
        try expect(second.task.attempts == 2)
        let dead = try await h.queue.fail(second.id, error: "boom 2")
        try expect(dead.status == .dead && dead.lastError == "boom 2" && dead.completedAt == h.clock.now())
        h.clock.advance(by: .seconds(61))
        try expect(try await h.claim().isEmpty)
        try expect(try await h.queue.stats().failedLastMinute == 0)
        let events = try await h.queue.logs(taskID: id).map(\.event)
        try expect(events == [.enqueued, .claimed, .failed, .claimed, .failed], "\(events)")
    }

    static func retryPolicyPerAttempt(_ h: StoreHarness) async throws {
        var configuration = TaskQueueConfiguration()
        configuration.retryPolicy = .exponential(base: .seconds(2), cap: .seconds(60), jitter: .none)
        let queue = TaskQueue(store: h.store, configuration: configuration)
        _ = try await queue.enqueue(NewTask(type: "t", maxAttempts: 4))
        var delays: [TimeInterval] = []
        for _ in 0..<3 {
            let lease = try require(try await h.claim(lease: .seconds(600)).first)
            let task = try await queue.fail(lease.id, error: "again")
            delays.append(task.runAfter.timeIntervalSince(h.clock.now()))
            h.clock.advance(by: .seconds(600))
        }
        try expect(delays == [2, 4, 8], "2 s after the first attempt, then doubling: \(delays)")
        var never = TaskQueueConfiguration()
        never.retryPolicy = .none
        let lease = try require(try await h.claim().first)
        let dead = try await TaskQueue(store: h.store, configuration: never).fail(lease.id, error: "no retries")
        try expect(dead.status == .dead, "a policy that never retries sends the task to dead")
    }

    static func nonRetryableFailuresGoDead(_ h: StoreHarness) async throws {
        let ids = try await h.queue.enqueue(batch: [
            NewTask(type: "t", maxAttempts: 5), NewTask(type: "t", maxAttempts: 1),
        ])
        .map(\.task.id)
        let leases = try await h.claim(max: 2)
        let permanent = try await h.queue.fail(leases[0].id, error: "bad input", retryable: false)
        try expect(permanent.status == .dead && permanent.attempts == 1)
        h.clock.advance(by: .seconds(11))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1)
        try expect(try await h.queue.task(id: ids[1]).status == .dead, "an expired last attempt is dead")
        try expect(try await h.queue.stats().failedLastMinute == 2)
    }

    static func releaseRefundsTheAttempt(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t", maxAttempts: 1)).task.id
        let lease = try require(try await h.claim().first)
        let released = try await h.queue.release(lease.id)
        try expect(released.status == .queued && released.attempts == 0 && released.leaseToken == nil)
        try expect(try await h.claim().first?.task.id == id)
        try expect(try await h.queue.logs(taskID: id).map(\.event) == [.enqueued, .claimed, .released, .claimed])
    }

    static func oversizedResultsAreRefused(_ h: StoreHarness) async throws {
        var configuration = TaskQueueConfiguration()
        configuration.limits.maxPayloadBytes = 16
        let queue = TaskQueue(store: h.store, configuration: configuration)
        let lease = try await h.runningTask()
        let large = try RawJSON(validating: "\"" + String(repeating: "x", count: 32) + "\"")
        try await expect(throws: .payloadTooLarge) { try await queue.complete(lease.id, result: large) }
        let deep = try RawJSON(encoding: NestedArrays(depth: TaskValidation.maxNestingDepth + 1))
        try await expect(throws: .invalidArgument) { try await h.queue.complete(lease.id, result: deep) }
        try expect(try await h.queue.task(id: lease.task.id).status == .running, "the lease still holds")
        try expect(try await queue.complete(lease.id, result: .null).status == .completed)
    }
}

/// Arrays nested `depth` deep: `[[…]]`.
struct NestedArrays: Encodable, Sendable {
    let depth: Int

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        if depth > 1 { try container.encode(NestedArrays(depth: depth - 1)) }
    }
}
