import Foundation
import HTTPTypes
import PrismQ
import PrismQServer
import Testing

@Suite("Release over HTTP, JSON nesting and list sizes", .timeLimit(.minutes(2)))
struct LimitsAndReleaseTests {
    @Test func aReleasedTaskIsQueuedAgainWithItsAttemptRefunded() async throws {
        try await APITester().run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t","max_attempts":1}"#).json["id"] as! Int
            let task = try #require(try await client.post("/queue/claim", #"{"worker_id":"w"}"#).tasks.first)
            let token = task["lease_token"] as! Int
            let stale = try await client.post("/queue/tasks/\(id)/release", #"{"lease_token":\#(token + 1)}"#)
            #expect(stale.status == .conflict && stale.errorCode == "lease_lost")
            let released = try await client.post("/queue/tasks/\(id)/release", #"{"lease_token":\#(token)}"#)
            #expect(released.status == .ok && released.json["status"] as? String == "queued")
            #expect(released.json["attempts"] as? Int == 0)
            let again = try await client.post("/queue/tasks/\(id)/release", #"{"lease_token":\#(token)}"#)
            #expect(again.status == .conflict && again.errorCode == "lease_lost")
            let unknown = try await client.post("/queue/tasks/999999/release", #"{"lease_token":1}"#)
            #expect(unknown.status == .notFound)
            // Its only attempt was given back: it runs again, at attempt 1.
            let reclaimed = try await client.post("/queue/claim", #"{"worker_id":"w2"}"#)
            #expect(reclaimed.tasks.first?["attempts"] as? Int == 1)
        }
    }

    @Test func oversizedResultsBatchesAndWorkerBodiesGet413AndChangeNothing() async throws {
        try await APITester(maxPayloadBytes: 100).run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t"}"#).json["id"] as! Int
            let lease = try #require(try await client.post("/queue/claim", #"{"worker_id":"w"}"#).tasks.first)
            let token = lease["lease_token"] as! Int
            let big = "\"" + String(repeating: "x", count: 200) + "\""
            let padding = String(repeating: " ", count: 70_000)  // past the 64 KiB of a worker call
            let refused: [(String, String)] = [
                ("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token),"result":\#(big)}"#),
                ("/queue/tasks/batch", #"{"tasks":[{"type":"t"},{"type":"t","payload":\#(big)}]}"#),
                ("/queue/claim", #"{"worker_id":"w2"\#(padding)}"#),
                ("/queue/tasks/\(id)/heartbeat", #"{"lease_token":\#(token)\#(padding)}"#),
                ("/queue/tasks/\(id)/fail", #"{"lease_token":\#(token),"error":"x"\#(padding)}"#),
                ("/queue/tasks/\(id)/release", #"{"lease_token":\#(token)\#(padding)}"#),
            ]
            for (path, body) in refused {
                let reply = try await client.post(path, body)
                #expect(
                    reply.status == .contentTooLarge && reply.errorCode == "payload_too_large", "\(path): \(reply.text)"
                )
            }
            let task = try await client.get("/queue/tasks/\(id)").json
            #expect(
                task["status"] as? String == "running"
                    && task["lease_expires_at"] as? String == lease["lease_expires_at"] as? String, "\(task)")
            #expect(task["attempts"] as? Int == 1 && task["result"] is NSNull)
            let stats = try await client.get("/queue/stats").json
            #expect((stats["by_status"] as? [String: Int])?.values.reduce(0, +) == 1, "no task of the batch was stored")
            let workers = try await client.get("/queue/workers").json["workers"] as? [[String: Any]]
            #expect(workers?.map { $0["id"] as? String } == ["w"], "the refused claim registered nobody")
            let done = try await client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#)
            #expect(done.status == .ok, "the lease was held throughout")
        }
    }

    /// Arrays `depth` deep.
    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    @Test func jsonNestedDeeperThan64LevelsIsRefusedAndChangesNothing() async throws {
        let nested = Self.nested
        try await APITester().run { client in
            let deep = try await client.post("/queue/tasks", #"{"type":"t","payload":\#(nested(65))}"#)
            #expect(deep.status == .badRequest && deep.errorCode == "invalid_request")
            let batch = try await client.post(
                "/queue/tasks/batch", #"{"tasks":[{"type":"t","payload":\#(nested(65))}]}"#)
            #expect(batch.status == .badRequest)
            // A huge body of brackets is refused in one pass, without a deep recursion.
            let huge = try await client.post("/queue/tasks/batch", nested(1 << 20))
            #expect(huge.status == .badRequest)
            #expect((try await client.get("/queue/tasks").tasks).isEmpty)
            let deepest = try await client.post("/queue/tasks", #"{"type":"t","payload":\#(nested(64))}"#)
            #expect(deepest.status == .created)
            // A result as deep as a payload may be, and no deeper.
            let id = try await client.post("/queue/tasks", #"{"type":"r"}"#).json["id"] as! Int
            let token =
                try #require(
                    try await client.post("/queue/claim", #"{"worker_id":"w","capabilities":["r"]}"#).tasks.first
                )["lease_token"] as! Int
            let deepResult = try await client.post(
                "/queue/tasks/\(id)/complete", #"{"lease_token":\#(token),"result":\#(nested(65))}"#)
            #expect(deepResult.status == .badRequest)
            let result = try await client.post(
                "/queue/tasks/\(id)/complete", #"{"lease_token":\#(token),"result":\#(nested(64))}"#)
            #expect(result.status == .ok)
            // Brackets inside strings are not nesting.
            let text = try await client.post("/queue/tasks", #"{"type":"t","payload":"\#(nested(100))"}"#)
            #expect(text.status == .created)
        }
        #expect(throws: QueueError(.invalidArgument, "")) { try RawJSON(validating: nested(65)) }
        #expect(try RawJSON(validating: nested(64)).text == nested(64))
    }

    @Test func aListOfLargeTasksIsCutIntoPagesOfBoundedSize() async throws {
        try await APITester(maxPayloadBytes: 1 << 20).run { client in
            let payload = "\"" + String(repeating: "x", count: 1_000_000) + "\""
            for _ in 0..<9 {
                let reply = try await client.post("/queue/tasks", #"{"type":"t","payload":\#(payload)}"#)
                #expect(reply.status == .created)
            }
            var seen = 0
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await client.get("/queue/tasks?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok && !page.tasks.isEmpty)
                #expect(page.text.utf8.count <= 8 << 20 + 1_100_000)
                seen += page.tasks.count
                cursor = page.json["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == 9 && pages == 2)
        }
    }
}
