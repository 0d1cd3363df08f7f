import Foundation
import HTTPTypes
import PrismQ
import PrismQClient
import Testing

@Suite("REST batched settles", .timeLimit(.minutes(5)))
struct SettleAPITests {
    /// Claims `count` tasks of type `t` as worker `w`: their ids and lease tokens.
    func claim(_ count: Int, _ client: APITester.Client) async throws -> [(id: Int, token: Int)] {
        let reply = try await client.post("/queue/claim", #"{"worker_id":"w","max_tasks":\#(count)}"#)
        return reply.tasks.map { ($0["id"] as! Int, $0["lease_token"] as! Int) }
    }

    @Test func oneSettleRecordsEachOutcomeOnItsOwnAndClaimsMore() async throws {
        try await APITester().run { client in
            for _ in 0..<6 { _ = try await client.post("/queue/tasks", #"{"type":"t"}"#) }
            let held = try await claim(4, client)
            #expect(held.map(\.id) == [1, 2, 3, 4])
            let body = """
                {"outcomes":[
                  {"task_id":1,"lease_token":\(held[0].token),"outcome":"complete","result":{"sent":true}},
                  {"task_id":2,"lease_token":"\(held[1].token)","outcome":"fail","error":"boom","retryable":false},
                  {"task_id":3,"lease_token":\(held[2].token),"outcome":"release"},
                  {"task_id":4,"lease_token":\(held[3].token + 1),"outcome":"complete"},
                  {"task_id":99,"lease_token":1,"outcome":"fail","error":"gone"}],
                 "claim":{"worker_id":"w2","capabilities":["t"],"max_tasks":4,"lease_seconds":5}}
                """
            let reply = try await client.post("/queue/settle", body)
            #expect(reply.status == .ok, "\(reply.text)")
            let outcomes = try #require(reply.json["outcomes"] as? [[String: Any]])
            #expect(outcomes.map { $0["task_id"] as? Int } == [1, 2, 3, 4, 99])
            #expect(outcomes.map { $0["status"] as? String } == ["ok", "ok", "ok", "lease_lost", "not_found"])
            let tasks = outcomes.map { $0["task"] as? [String: Any] }
            #expect(
                tasks[0]?["status"] as? String == "completed"
                    && tasks[0]?["result"] as? [String: Bool] == ["sent": true])
            #expect(tasks[1]?["status"] as? String == "dead" && tasks[1]?["last_error"] as? String == "boom")
            #expect(tasks[2]?["status"] as? String == "queued" && tasks[2]?["attempts"] as? Int == 0)
            #expect((outcomes[3]["message"] as? String)?.isEmpty == false && tasks[3] == nil)

            // The claim ran after the outcomes: the released task is among the three ready.
            #expect(reply.tasks.compactMap { $0["id"] as? Int }.sorted() == [3, 5, 6])
            #expect(reply.tasks.allSatisfy { $0["status"] as? String == "running" && $0["lease_token"] is Int })
            #expect(reply.tasks.allSatisfy { $0["claimed_by"] as? String == "w2" })
            #expect(try await client.get("/queue/tasks/4").json["status"] as? String == "running", "a stale token")
        }
    }

    @Test func aMalformedSettleIsRefusedWholeAndChangesNothing() async throws {
        try await APITester().run { client in
            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            let token = try await claim(1, client)[0].token
            let complete = #"{"task_id":1,"lease_token":\#(token),"outcome":"complete"}"#
            let claimMore = #""claim":{"worker_id":"other"}"#
            let refused = [
                #"{"outcomes":[\#(complete),\#(complete)],\#(claimMore)}"#,
                #"{"outcomes":[{"task_id":1,"lease_token":\#(token),"outcome":"done"}],\#(claimMore)}"#,
                #"{"outcomes":[{"task_id":1,"lease_token":\#(token),"outcome":"fail"}],\#(claimMore)}"#,
                #"{"outcomes":[{"task_id":1,"lease_token":\#(token),"outcome":"release","result":1}]}"#,
                #"{"outcomes":[{"task_id":0,"lease_token":\#(token),"outcome":"complete"}]}"#,
                #"{"outcomes":[{"lease_token":\#(token),"outcome":"complete"}]}"#,
                #"{"outcomes":[\#(complete)],"claim":{"worker_id":"other","wait_seconds":5}}"#,
                #"{"outcomes":[\#(complete)],"claim":{"max_tasks":1}}"#,
                #"{"outcomes":[\#(complete)],"claim":{"worker_id":"other","max_tasks":101}}"#,
                #"{"outcomes":[\#(complete)],"claim":[]}"#,
                #"{"outcomes":{},\#(claimMore)}"#,
                #"{"outcome":[\#(complete)]}"#,
                #"{"outcomes":[\#(Array(repeating: complete, count: 101).joined(separator: ","))]}"#,
            ]
            for body in refused {
                let reply = try await client.post("/queue/settle", body)
                #expect(reply.status == .badRequest && reply.errorCode == "invalid_request", "\(body): \(reply.text)")
            }
            #expect(try await client.get("/queue/tasks/1").json["status"] as? String == "running")
            #expect(try await client.get("/queue/tasks/2").json["status"] as? String == "queued")
            let workers = try await client.get("/queue/workers").json["workers"] as? [[String: Any]]
            #expect(workers?.map { $0["id"] as? String } == ["w"], "no claim was made")

            let empty = try await client.post("/queue/settle", "{}")
            #expect(empty.status == .ok && empty.text == #"{"outcomes":[],"tasks":[]}"#)
        }
    }

    @Test func aRemoteQueueSettlesMoreThanOneRequestHoldsAndClaimsInTheLast() async throws {
        let tester = try await APITester()
        try await tester.run { client in
            let remote = TaskQueue(store: try RemoteStore(url: "http://127.0.0.1:\(client.port)"))
            _ = try await tester.queue.enqueue(batch: (0..<160).map { _ in NewTask(type: "t") })
            var leases: [Lease] = []
            while leases.count < 150 {
                let wanted = min(100, 150 - leases.count)
                leases += try await remote.claim(
                    ClaimRequest(workerID: "r", leaseDuration: .seconds(30), maxTasks: wanted))
            }
            let settlements = leases.enumerated().map { index, lease in
                Settlement(lease.id, index == 120 ? .failed(error: "no", retryable: false) : .completed(result: nil))
            }
            let result = try await remote.settle(
                settlements, thenClaim: ClaimRequest(workerID: "r", leaseDuration: .seconds(30), maxTasks: 20))
            #expect(result.outcomes.count == 150 && result.leases.count == 10)
            let statuses = result.outcomes.map { try? $0.get().status }
            #expect(statuses.filter { $0 == .completed }.count == 149 && statuses[120] == .dead)
            let stats = try await tester.queue.stats()
            #expect(stats.byStatus[.completed] == 149 && stats.byStatus[.dead] == 1 && stats.byStatus[.running] == 10)
        }
    }

    @Test func aRemoteQueueSplitsARoundByCountAndBySize() {
        #expect(RemoteStore.requests(sizes: []).isEmpty)
        #expect(RemoteStore.requests(sizes: Array(repeating: 1, count: 250)) == [0..<100, 100..<200, 200..<250])
        #expect(RemoteStore.requests(sizes: [10, 10, 30, 5, 5, 20], maxBytes: 25) == [0..<2, 2..<3, 3..<5, 5..<6])
        #expect(RemoteStore.requests(sizes: [40], maxBytes: 25) == [0..<1], "one larger outcome goes alone")
        let default24MiB = RemoteStore.requests(sizes: Array(repeating: 1 << 20, count: 36))
        #expect(default24MiB == [0..<24, 24..<36], "under the server's 32 MiB by default")
    }
}
