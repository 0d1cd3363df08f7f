import Foundation
import PrismQ
import Testing

@testable import PrismQSQLite

@Suite("Settling leases and claiming in one transaction")
struct SettleTests {
    let directory = TemporaryDirectory()

    func request(max: Int) -> ClaimRequest {
        ClaimRequest(workerID: "w1", leaseDuration: .seconds(30), maxTasks: max)
    }

    @Test func outcomesAndTheNextClaimShareOneTransactionAndARefusedOutcomeStandsAlone() async throws {
        let store = try makeStore(in: directory)
        let ids = try await store.enqueue((0..<7).map { _ in NewTask(type: "t", maxAttempts: 1) }).map(\.task.id)
        let leases = try await store.claim(request(max: 4))
        #expect(leases.map(\.task.id) == Array(ids[0..<4]))
        let stale = LeaseID(taskID: leases[3].id.taskID, token: leases[3].id.token + 1)
        let tooLarge = try RawJSON(validating: "\"" + String(repeating: "x", count: 2_000_000) + "\"")

        let before = store.groupCommit.transactions
        let result = try await store.settle(
            [
                Settlement(leases[0].id, .completed(result: try RawJSON(validating: "{\"ok\":true}"))),
                Settlement(leases[1].id, .failed(error: "boom", retryable: true, retryDelay: .seconds(1))),
                Settlement(stale, .completed(result: nil)),
                Settlement(leases[2].id, .completed(result: tooLarge)),
                Settlement(leases[3].id, .released),
            ],
            thenClaim: request(max: 2)
        )
        #expect(store.groupCommit.transactions == before + 1)

        #expect(try result.outcomes[0].get().status == .completed)
        #expect(try result.outcomes[0].get().result?.text == "{\"ok\":true}")
        #expect(try result.outcomes[1].get().status == .dead)  // one attempt only
        #expect(throws: QueueError(.leaseLost, "")) { try result.outcomes[2].get() }
        #expect(throws: QueueError(.payloadTooLarge, "")) { try result.outcomes[3].get() }
        #expect(try result.outcomes[4].get().status == .queued)
        // The claim ran after the settlements: the released task is ready again, at the back.
        #expect(result.leases.map(\.task.id) == [ids[4], ids[5]])
        #expect(try await store.task(id: ids[3]).status == .queued)

        // The refused outcomes changed nothing: the lease with the large result still holds.
        #expect(try await store.task(id: ids[2]).status == .running)
        #expect(try await store.complete(leases[2].id, result: nil).status == .completed)
        let events = try await store.logs(taskID: ids[0]).map(\.event)
        #expect(events == [.enqueued, .claimed, .completed])
    }

    @Test func settlingWithoutAClaimAndAnInvalidClaimChangeNothingElse() async throws {
        let store = try makeStore(in: directory)
        let id = try await store.enqueue([NewTask(type: "t")])[0].task.id
        let lease = try #require(try await store.claim(request(max: 1)).first)
        await #expect(throws: QueueError(.invalidArgument, "")) {
            try await store.settle([Settlement(lease.id, .completed(result: nil))], thenClaim: request(max: 0))
        }
        #expect(try await store.task(id: id).status == .running)
        let result = try await store.settle([Settlement(lease.id, .completed(result: nil))], thenClaim: nil)
        #expect(result.leases.isEmpty)
        #expect(try result.outcomes[0].get().status == .completed)
    }
}

@Suite("Fencing in batched settles")
struct BatchedFencingTests {
    let directory = TemporaryDirectory()

    /// A task claimed, swept after its lease ran out, and claimed again: the stale lease and
    /// the current one of the same task.
    func staleAndCurrentLease(_ store: SQLiteStore, clock: ManualClock) async throws -> (LeaseID, LeaseID) {
        _ = try await store.enqueue([NewTask(type: "t", maxAttempts: 5)])
        let request = ClaimRequest(workerID: "w1", leaseDuration: .seconds(10))
        let stale = try #require(try await store.claim(request).first).id
        clock.advance(by: 11)
        #expect(try await store.requeueExpired(limit: 10) == 1)
        let current = try #require(try await store.claim(request).first).id
        #expect(stale.taskID == current.taskID && stale.token != current.token)
        return (stale, current)
    }

    @Test(arguments: [false, true])
    func aStaleCompletionInTheSameBatchAsTheCurrentOneIsLeaseLost(staleFirst: Bool) async throws {
        let clock = ManualClock()
        let store = try makeStore(in: directory, clock: clock)
        let (stale, current) = try await staleAndCurrentLease(store, clock: clock)
        let staleCompletion = Settlement(stale, .completed(result: try RawJSON(validating: "\"X\"")))
        let currentCompletion = Settlement(current, .completed(result: try RawJSON(validating: "\"Y\"")))
        let batch = staleFirst ? [staleCompletion, currentCompletion] : [currentCompletion, staleCompletion]

        let outcomes = try await store.settle(batch, thenClaim: nil).outcomes
        let (staleOutcome, currentOutcome) = staleFirst ? (outcomes[0], outcomes[1]) : (outcomes[1], outcomes[0])
        #expect(throws: QueueError(.leaseLost, "")) { try staleOutcome.get() }
        #expect(try currentOutcome.get().result?.text == "\"Y\"")
        let task = try await store.task(id: current.taskID)
        #expect(task.status == .completed && task.result?.text == "\"Y\"")
        let events = try await store.logs(taskID: current.taskID).map(\.event)
        #expect(events.filter { $0 == .completed }.count == 1)
    }

    @Test func aStaleLeaseCannotFailReleaseOrRenewBesideTheCurrentOne() async throws {
        let clock = ManualClock()
        let store = try makeStore(in: directory, clock: clock)
        let (stale, current) = try await staleAndCurrentLease(store, clock: clock)
        let outcomes = try await store.settle(
            [
                Settlement(stale, .failed(error: "late", retryable: true, retryDelay: .seconds(1))),
                Settlement(stale, .released),
                Settlement(current, .completed(result: nil)),
            ],
            thenClaim: nil
        ).outcomes
        #expect(throws: QueueError(.leaseLost, "")) { try outcomes[0].get() }
        #expect(throws: QueueError(.leaseLost, "")) { try outcomes[1].get() }
        #expect(try outcomes[2].get().status == .completed)
        let task = try await store.task(id: current.taskID)
        #expect(task.status == .completed && task.lastError != "late" && task.attempts == 2)
        #expect(try await store.renew([stale, current], for: .seconds(5)) == [.lost, .lost])
    }

    @Test func aSettlementOfAnUnknownTaskIsNotFoundAndItsNeighboursSettle() async throws {
        let store = try makeStore(in: directory)
        let ids = try await store.enqueue((0..<3).map { _ in NewTask(type: "t") }).map(\.task.id)
        let leases = try await store.claim(ClaimRequest(workerID: "w1", maxTasks: 3)).map(\.id)
        let unknown = LeaseID(taskID: ids.max()! + 1000, token: 7)
        for outcome in [TaskOutcome.completed(result: nil), .failed(error: "x", retryable: true, retryDelay: nil)] {
            let result = try await store.settle(
                [
                    Settlement(leases[0], .completed(result: nil)),
                    Settlement(unknown, outcome),
                    Settlement(leases[1], .released),
                ],
                thenClaim: ClaimRequest(workerID: "w1")
            )
            #expect(throws: QueueError(.notFound, "")) { try result.outcomes[1].get() }
            if case .completed = outcome {
                #expect(try result.outcomes[0].get().status == .completed)
                #expect(try result.outcomes[2].get().status == .queued)
                #expect(result.leases.map(\.task.id) == [ids[1]])
            }
        }
        #expect(try await store.task(id: ids[0]).status == .completed)
    }

    @Test func anExpiredLeaseIsNeverClaimedOverAndItsSweepCountsOneFailedAttempt() async throws {
        let clock = ManualClock()
        let store = try makeStore(in: directory, clock: clock)
        let id = try await store.enqueue([NewTask(type: "t", maxAttempts: 3)])[0].task.id
        let request = ClaimRequest(workerID: "w1", leaseDuration: .seconds(10))
        _ = try await store.claim(request)
        clock.advance(by: 11)
        // Only the sweep takes an expired task over: a claim before it finds nothing.
        #expect(try await store.claim(ClaimRequest(workerID: "w2")).isEmpty)
        #expect(try await store.stats().failedLastMinute == 0)
        #expect(try await store.requeueExpired(limit: 10) == 1)
        let lease = try #require(try await store.claim(ClaimRequest(workerID: "w2")).first)
        #expect(lease.task.id == id && lease.task.attempts == 2)
        #expect(try await store.stats().failedLastMinute == 1)
        let events = try await store.logs(taskID: id).map(\.event)
        #expect(events == [.enqueued, .claimed, .expired, .claimed])
    }
}
