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
