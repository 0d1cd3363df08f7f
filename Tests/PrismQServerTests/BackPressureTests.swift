import Foundation
import HTTPTypes
import PrismQ
import PrismQHarness
import PrismQSQLite
import PrismQServer
import Testing

@Suite(
    "Back-pressure: writes over the cap are refused while the writer is saturated",
    .timeLimit(.minutes(2)),
    // SQLite: a write lock held by another connection is what saturates the writer here.
    .disabled(if: APITester.onPostgres)
)
struct BackPressureTests {
    @Test func aWriteOverTheCapIsBusyAtOnceChangesNothingAndTheWaitingOneCommits() async throws {
        var sqlite = SQLiteConfiguration()
        sqlite.profile.busyTimeout = .seconds(90)  // the waiting write outlasts a slow machine
        var tester = try await APITester(sqlite: sqlite)
        tester.configuration.maxPendingWrites = 1
        let path = tester.sqlitePath
        try await tester.run { client in
            let lock = try SQLiteWriteLock(path: path)
            let waiting = try RawHTTPConnection(port: client.port)
            defer { waiting.disconnect() }
            waiting.send(
                "POST", "/queue/tasks", headers: ["Content-Type: application/json"], body: #"{"type":"first"}"#)
            #expect(try await eventually { try await client.health("pending_writes") == 1 })

            let enqueue = try await client.post("/queue/tasks", #"{"type":"second"}"#)
            #expect(enqueue.status == .serviceUnavailable && enqueue.errorCode == "busy", "\(enqueue)")
            #expect(enqueue.headers[.retryAfter] == "1")
            let claim = try await client.post("/queue/claim", #"{"worker_id":"w"}"#)
            #expect(claim.status == .serviceUnavailable && claim.errorCode == "busy", "\(claim)")
            #expect(try await client.get("/queue/stats").status == .ok, "reads go on")
            #expect(try await client.health("refused_writes") == 2)

            try lock.release()
            let reply = await waiting.response()
            #expect(reply.status == 201 && reply.body.contains(#""type":"first""#), "\(reply)")
            let tasks = try await client.get("/queue/tasks").tasks.compactMap { $0["type"] as? String }
            #expect(tasks == ["first"], "the refused enqueue stored nothing")
            #expect(try await client.health("pending_writes") == 0)
            let metrics = try await client.get("/metrics").text.split(separator: "\n")
            let refused = metrics.first { $0.hasPrefix("prismq_server_refused_writes ") }?.split(separator: " ").last
            #expect(refused.flatMap { Double($0) } == 2, "\(metrics)")
        }
    }

    @Test func aWaitingLongPollClaimHoldsNoPlace() async throws {
        var tester = try await APITester()
        tester.configuration.maxPendingWrites = 1
        try await tester.run { client in
            let waiting = try client.waitingClaim(worker: "patient", waitSeconds: 30)
            defer { waiting.disconnect() }
            #expect(try await eventually { try await client.claimWaiters() == 1 })
            let enqueue = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            #expect(enqueue.status == .created, "\(enqueue)")
            let reply = await waiting.response()
            #expect(reply.status == 200 && reply.body.contains(#""claimed_by":"patient""#), "\(reply)")
            #expect(try await client.health("refused_writes") == 0)
        }
    }
}
