import Foundation
import PrismQ

/// Settling several leases and claiming more in one call, with fencing per lease.
enum SettleChecks {
    static let all: [ConformanceCheck] = [
        ConformanceCheck(
            "outcomesAndTheNextClaimSettleTogetherAndARefusedOutcomeStandsAlone", refusedOutcomesStandAlone),
        ConformanceCheck("settlingWithoutAClaimAndAnInvalidClaimChangeNothingElse", invalidClaimsChangeNothing),
        ConformanceCheck("aStaleCompletionInTheSameBatchAsTheCurrentOneIsLeaseLost(staleFirst)") { h in
            try await staleCompletionBesideCurrent(h, staleFirst: true)
        },
        ConformanceCheck("aStaleCompletionInTheSameBatchAsTheCurrentOneIsLeaseLost(currentFirst)") { h in
            try await staleCompletionBesideCurrent(h, staleFirst: false)
        },
        ConformanceCheck(
            "completionsAndAClaimInOneRoundReportStaleAndUnknownLeasesEachOnTheirOwn", completionsAndAClaimInOneRound),
        ConformanceCheck("aStaleLeaseCannotFailReleaseOrRenewBesideTheCurrentOne", staleLeaseBesideCurrent),
        ConformanceCheck("aSettlementOfAnUnknownTaskIsNotFoundAndItsNeighboursSettle", unknownTaskInABatch),
        ConformanceCheck("anExpiredLeaseIsNeverClaimedOverAndItsSweepCountsOneFailedAttempt", expiredLeaseSweep),
    ]

    static func request(max: Int) -> ClaimRequest {
        ClaimRequest(workerID: "w1", leaseDuration: .seconds(30), maxTasks: max)
    }

    static func refusedOutcomesStandAlone(_ h: StoreHarness) async throws {
        var configuration = TaskQueueConfiguration()
        configuration.limits.maxPayloadBytes = 64
        let queue = TaskQueue(store: h.store, configuration: configuration)
        let ids = try await queue.enqueue(batch: (0..<7).map { _ in NewTask(type: "t", maxAttempts: 1) }).map(\.task.id)
        let leases = try await queue.claim(request(max: 4))
        try expect(leases.map(\.task.id) == Array(ids[0..<4]))
        let stale = LeaseID(taskID: leases[3].id.taskID, token: leases[3].id.token + 1)
        let tooLarge = try RawJSON(validating: "\"" + String(repeating: "x", count: 100) + "\"")
        h.clock.advance(by: .milliseconds(1))

        let result = try await queue.settle(
            [
                Settlement(leases[0].id, .completed(result: try RawJSON(validating: "{\"ok\":true}"))),
                Settlement(leases[1].id, .failed(error: "boom", retryable: true)),
                Settlement(stale, .completed(result: nil)),
                Settlement(leases[2].id, .completed(result: tooLarge)),
                Settlement(leases[3].id, .released),
            ],
            thenClaim: request(max: 2)
        )
        try expect(result.outcomes.count == 5)
        try expect(try result.outcomes[0].get().status == .completed)
        try expect(try result.outcomes[0].get().result?.text == "{\"ok\":true}")
        try expect(try result.outcomes[1].get().status == .dead, "one attempt only")
        try await expect(throws: .leaseLost) { try result.outcomes[2].get() }
        try await expect(throws: .payloadTooLarge) { try result.outcomes[3].get() }
        try expect(try result.outcomes[4].get().status == .queued)
        // The claim ran after the settlements: the released task is ready again, at the back.
        try expect(result.leases.map(\.task.id) == [ids[4], ids[5]], "\(result.leases.map(\.task.id))")
        try expect(try await queue.task(id: ids[3]).status == .queued)

        // The refused outcomes changed nothing: the lease with the large result still holds.
        try expect(try await queue.task(id: ids[2]).status == .running)
        try expect(try await queue.complete(leases[2].id, result: nil).status == .completed)
        let events = try await queue.logs(taskID: ids[0]).map(\.event)
        try expect(events == [.enqueued, .claimed, .completed])
    }

    static func invalidClaimsChangeNothing(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let lease = try require(try await h.queue.claim(request(max: 1)).first)
        try await expect(throws: .invalidArgument) {
            try await h.queue.settle([Settlement(lease.id, .completed(result: nil))], thenClaim: request(max: 0))
        }
        try expect(try await h.queue.task(id: id).status == .running)
        let result = try await h.queue.settle([Settlement(lease.id, .completed(result: nil))], thenClaim: nil)
        try expect(result.leases.isEmpty)
        try expect(try result.outcomes[0].get().status == .completed)
    }

    /// A task claimed, swept after its lease ran out, and claimed again: the stale lease and
    /// the current one of the same task.
    static func staleAndCurrentLease(_ h: StoreHarness) async throws -> (LeaseID, LeaseID) {
        _ = try await h.queue.enqueue(NewTask(type: "t", maxAttempts: 5))
        let request = ClaimRequest(workerID: "w1", leaseDuration: .seconds(10))
        let stale = try require(try await h.queue.claim(request).first).id
        h.clock.advance(by: .seconds(11))
        try expect(try await h.queue.requeueExpired(limit: 10) == 1)
        let current = try require(try await h.queue.claim(request).first).id
        try expect(stale.taskID == current.taskID && stale.token != current.token)
        return (stale, current)
    }

    static func staleCompletionBesideCurrent(_ h: StoreHarness, staleFirst: Bool) async throws {
        let (stale, current) = try await staleAndCurrentLease(h)
        let staleCompletion = Settlement(stale, .completed(result: try RawJSON(validating: "\"X\"")))
        let currentCompletion = Settlement(current, .completed(result: try RawJSON(validating: "\"Y\"")))
        let batch = staleFirst ? [staleCompletion, currentCompletion] : [currentCompletion, staleCompletion]

        let outcomes = try await h.queue.settle(batch, thenClaim: nil).outcomes
        let (staleOutcome, currentOutcome) = staleFirst ? (outcomes[0], outcomes[1]) : (outcomes[1], outcomes[0])
        try await expect(throws: .leaseLost) { try staleOutcome.get() }
        try expect(try currentOutcome.get().result?.text == "\"Y\"")
        let task = try await h.queue.task(id: current.taskID)
        try expect(task.status == .completed && task.result?.text == "\"Y\"")
        let events = try await h.queue.logs(taskID: current.taskID).map(\.event)
        try expect(events.filter { $0 == .completed }.count == 1)
    }

    static func completionsAndAClaimInOneRound(_ h: StoreHarness) async throws {
        let (stale, current) = try await staleAndCurrentLease(h)
        let next = try await h.queue.enqueue(NewTask(type: "t")).task.id
        let unknown = LeaseID(taskID: next + 1000, token: 7)
        let result = try await h.queue.settle(
            [
                Settlement(stale, .completed(result: try RawJSON(validating: "\"X\""))),
                Settlement(unknown, .completed(result: nil)),
                Settlement(current, .completed(result: try RawJSON(validating: "\"Y\""))),
            ],
            thenClaim: request(max: 2)
        )
        try await expect(throws: .leaseLost) { try result.outcomes[0].get() }
        try await expect(throws: .notFound) { try result.outcomes[1].get() }
        try expect(try result.outcomes[2].get().result?.text == "\"Y\"")
        try expect(result.leases.map(\.task.id) == [next], "the one ready task")
        let task = try await h.queue.task(id: current.taskID)
        try expect(task.status == .completed && task.result?.text == "\"Y\"")
        try expect(try await h.queue.task(id: next).status == .running)
    }

    static func staleLeaseBesideCurrent(_ h: StoreHarness) async throws {
        let (stale, current) = try await staleAndCurrentLease(h)
        let outcomes = try await h.queue.settle(
            [
                Settlement(stale, .failed(error: "late", retryable: true)),
                Settlement(stale, .released),
                Settlement(current, .completed(result: nil)),
            ],
            thenClaim: nil
        ).outcomes
        try await expect(throws: .leaseLost) { try outcomes[0].get() }
        try await expect(throws: .leaseLost) { try outcomes[1].get() }
        try expect(try outcomes[2].get().status == .completed)
        let task = try await h.queue.task(id: current.taskID)
        try expect(task.status == .completed && task.lastError != "late" && task.attempts == 2)
        try expect(try await h.queue.renew([stale, current], for: .seconds(5)) == [.lost, .lost])
    }

    static func unknownTaskInABatch(_ h: StoreHarness) async throws {
        let ids = try await h.queue.enqueue(batch: (0..<3).map { _ in NewTask(type: "t") }).map(\.task.id)
        let leases = try await h.queue.claim(ClaimRequest(workerID: "w1", maxTasks: 3)).map(\.id)
        let unknown = LeaseID(taskID: ids.max()! + 1000, token: 7)
        for outcome in [TaskOutcome.completed(result: nil), .failed(error: "x", retryable: true)] {
            let result = try await h.queue.settle(
                [
                    Settlement(leases[0], .completed(result: nil)),
                    Settlement(unknown, outcome),
                    Settlement(leases[1], .released),
                ],
                thenClaim: ClaimRequest(workerID: "w1")
            )
            try await expect(throws: .notFound) { try result.outcomes[1].get() }
            if case .completed = outcome {
                try expect(try result.outcomes[0].get().status == .completed)
                try expect(try result.outcomes[2].get().status == .queued)
                try expect(result.leases.map(\.task.id) == [ids[1]])
            }
        }
        try expect(try await h.queue.task(id: ids[0]).status == .completed)
    }

    static func expiredLeaseSweep(_ h: StoreHarness) async throws {
        let id = try await h.queue.enqueue(NewTask(type: "t", maxAttempts: 3)).task.id
        _ = try await h.queue.claim(ClaimRequest(workerID: "w1", leaseDuration: .seconds(10)))
        h.clock.advance(by: .seconds(11))
        // Only the sweep takes an expired task over: a claim before it finds nothing.
        try expect(try await h.queue.claim(ClaimRequest(workerID: "w2")).isEmpty)
        try expect(try await h.queue.stats().failedLastMinute == 0)
        try expect(try await h.queue.requeueExpired(limit: 10) == 1)
        let lease = try require(try await h.queue.claim(ClaimRequest(workerID: "w2")).first)
        try expect(lease.task.id == id && lease.task.attempts == 2)
        try expect(try await h.queue.stats().failedLastMinute == 1)
        let events = try await h.queue.logs(taskID: id).map(\.event)
        try expect(events == [.enqueued, .claimed, .expired, .claimed])
    }
}
