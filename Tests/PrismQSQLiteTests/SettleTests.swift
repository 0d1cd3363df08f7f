import Foundation
import PrismQ
import Testing

@testable import PrismQSQLite

/// The settle in one SQLite transaction; what it does is in the conformance suite.
@Suite("Settling leases and claiming in one transaction", .timeLimit(.minutes(5)))
struct SettleTests {
    let directory = TemporaryDirectory()

    @Test func outcomesAndTheNextClaimShareOneTransaction() async throws {
        let store = try makeStore(in: directory)
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(batch: (0..<7).map { _ in NewTask(type: "t", maxAttempts: 1) })
        let leases = try await queue.claim(ClaimRequest(workerID: "w1", maxTasks: 4))
        let stale = LeaseID(taskID: leases[3].id.taskID, token: leases[3].id.token + 1)

        let before = store.groupCommit.transactions
        let result = try await queue.settle(
            [
                Settlement(leases[0].id, .completed(result: nil)),
                Settlement(leases[1].id, .failed(error: "boom", retryable: true)),
                Settlement(stale, .completed(result: nil)),
                Settlement(leases[2].id, .released),
            ],
            thenClaim: ClaimRequest(workerID: "w1", maxTasks: 2)
        )
        #expect(store.groupCommit.transactions == before + 1)
        #expect(result.outcomes.map { (try? $0.get())?.status } == [.completed, .dead, nil, .queued])
        #expect(result.leases.count == 2)
    }
}
