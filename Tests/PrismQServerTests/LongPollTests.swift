import Foundation
import HTTPTypes
import PrismQ
import PrismQHarness
import PrismQServer
import Testing

@Suite("Long-poll claims: disconnects, the waiter cap, and wake-ups", .timeLimit(.minutes(2)))
struct LongPollTests {
    @Test func aClaimWhoseClientLeftStopsWaitingAndClaimsNothing() async throws {
        try await APITester().run { client in
            let connection = try client.waitingClaim(worker: "gone", waitSeconds: 10)
            #expect(try await eventually { try await client.claimWaiters() == 1 })
            connection.disconnect()
            #expect(try await eventually { try await client.claimWaiters() == 0 })

            let id = try await client.post("/queue/tasks", #"{"type":"t","max_attempts":1}"#).json["id"] as! Int
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "queued")
            let claim = try await client.post("/queue/claim", #"{"worker_id":"new"}"#)
            #expect(claim.tasks.first?["id"] as? Int == id && claim.tasks.first?["attempts"] as? Int == 1)
        }
    }

    @Test func claimsOverTheCapAreBusyAndTheWaitingOneStillGetsItsTask() async throws {
        var tester = try await APITester()
        tester.configuration.maxClaimWaiters = 1
        try await tester.run { client in
            // 30 s, the most: a slow machine still enqueues in time.
            let connection = try client.waitingClaim(worker: "first", waitSeconds: 30)
            defer { connection.disconnect() }
            #expect(try await eventually { try await client.claimWaiters() == 1 })
            let refused = try await client.post("/queue/claim", #"{"worker_id":"second","wait_seconds":5}"#)
            #expect(refused.status == .serviceUnavailable && refused.errorCode == "busy")
            #expect(refused.headers[.retryAfter] != nil)
            let immediate = try await client.post("/queue/claim", #"{"worker_id":"third"}"#)
            #expect(immediate.status == .ok && immediate.tasks.isEmpty)

            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            let reply = await connection.response()
            #expect(reply.status == 200 && reply.body.contains(#""claimed_by":"first""#), "\(reply)")
        }
    }

    @Test func oneTaskWakesOneOfManyWaiters() async throws {
        var tester = try await APITester()
        // Only a wake-up ends a wait: the enqueue's own, or the commit watch's, which sees it too.
        tester.configuration.claimRecheck = .seconds(3600)
        try await tester.run { client in
            let connections = try (0..<20).map { try client.waitingClaim(worker: "w\($0)", waitSeconds: 20) }
            defer { connections.forEach { $0.disconnect() } }
            #expect(try await eventually { try await client.claimWaiters() == 20 })
            let pool = { () async throws -> Int in
                (try await client.get("/health").json["pool"] as? [String: Any])?["writes"] as? Int ?? -1
            }
            let writesBefore = try await pool()
            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            #expect(try await eventually { try await client.claimWaiters() == 19 })
            // The enqueue and one claim: no claim by each of the other 19 waiters.
            #expect(try await pool() - writesBefore <= 3)
        }
    }

    @Test func aCommitOfAnotherProcessWakesAWaitingClaim() async throws {
        var tester = try await APITester()
        tester.configuration.claimRecheck = .seconds(3600)  // only the commit's wake-up ends the wait
        let other = tester
        try await tester.run { client in
            let connection = try client.waitingClaim(worker: "waiting", waitSeconds: 30)
            defer { connection.disconnect() }
            #expect(try await eventually { try await client.claimWaiters() == 1 })
            var id: Int64 = 0
            try await other.withOtherProcess { queue in id = try await queue.enqueue(NewTask(type: "t")).task.id }
            let reply = await connection.response()
            #expect(reply.status == 200 && reply.body.contains(#""id":\#(id),"#), "\(reply)")
        }
    }
}
