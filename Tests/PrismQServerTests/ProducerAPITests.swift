import Foundation
import HTTPTypes
import PrismQ
import PrismQServer
import Testing

@Suite("REST producer endpoints", .timeLimit(.minutes(5)))
struct ProducerAPITests {
    @Test func enqueueReturnsTheTaskAndHonoursIdempotencyByFieldAndHeader() async throws {
        try await APITester().run { client in
            let created = try await client.post(
                "/queue/tasks", #"{"type":"email.send","payload":{"to":"a@b.c"},"priority":5,"max_attempts":7}"#
            )
            #expect(created.status == .created)
            #expect(created.json["type"] as? String == "email.send" && created.json["priority"] as? Int == 5)
            #expect((created.json["payload"] as? [String: String]) == ["to": "a@b.c"])
            #expect(created.json["run_after"] as? String == created.json["created_at"] as? String)
            #expect((created.json["created_at"] as? String)?.hasSuffix("Z") == true)

            let first = try await client.post("/queue/tasks", #"{"type":"t","idempotency_key":"k"}"#)
            let again = try await client.post(
                "/queue/tasks", #"{"type":"other"}"#,
                headers: [
                    .contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "k",
                ])
            #expect(first.status == .created && again.status == .ok)
            #expect(again.json["id"] as? Int == first.json["id"] as? Int && again.json["type"] as? String == "t")
            let differing = try await client.post(
                "/queue/tasks", #"{"type":"t","idempotency_key":"x"}"#,
                headers: [
                    .contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "y",
                ])
            #expect(differing.status == .badRequest && differing.errorCode == "invalid_request")

            let delayed = try await client.post("/queue/tasks", #"{"type":"t","delay_seconds":60}"#)
            #expect(
                delayed.status == .created
                    && delayed.json["run_after"] as? String != delayed.json["created_at"] as? String)
            let scheduled = try await client.post("/queue/tasks", #"{"type":"t","run_after":"2030-01-01T00:00:00Z"}"#)
            #expect(scheduled.json["run_after"] as? String == "2030-01-01T00:00:00.000Z")
        }
    }

    @Test func badInputGetsItsSpecificErrorAndChangesNothing() async throws {
        let tester = try await APITester(maxPayloadBytes: 100)
        try await tester.run { client in
            let cases: [(String, String, HTTPFields, HTTPResponse.Status, String)] = [
                ("/queue/tasks", "{nope", [.contentType: "application/json"], .badRequest, "invalid_request"),
                ("/queue/tasks", "[1]", [.contentType: "application/json"], .badRequest, "invalid_request"),
                (
                    "/queue/tasks", #"{"type":"t"}"#, [.contentType: "text/plain"], .unsupportedMediaType,
                    "unsupported_media_type"
                ),
                (
                    "/queue/tasks", #"{"type":"t","colour":"red"}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
                ("/queue/tasks", #"{"payload":1}"#, [.contentType: "application/json"], .badRequest, "invalid_request"),
                (
                    "/queue/tasks", #"{"type":"t","priority":1001}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","priority":"high"}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","max_attempts":0}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","delay_seconds":-1}"#, [.contentType: "application/json"],
                    .badRequest, "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","delay_seconds":1,"run_after":"2030-01-01T00:00:00Z"}"#,
                    [.contentType: "application/json"], .badRequest, "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","run_after":"soon"}"#, [.contentType: "application/json"],
                    .badRequest, "invalid_request"
                ),
                (
                    "/queue/tasks", #"{"type":"t","payload":"\#(String(repeating: "x", count: 200))"}"#,
                    [.contentType: "application/json"], .contentTooLarge, "payload_too_large"
                ),
                (
                    "/queue/tasks", String(repeating: " ", count: 70_000) + "{}", [.contentType: "application/json"],
                    .contentTooLarge, "payload_too_large"
                ),
                (
                    "/queue/tasks/batch", #"{"tasks":[{"type":"ok"},{"type":"not ok"}]}"#,
                    [.contentType: "application/json"], .badRequest, "invalid_request"
                ),
                (
                    "/queue/tasks/batch", #"{"tasks":[]}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
                (
                    "/queue/tasks/batch", #"{"tasks":{}}"#, [.contentType: "application/json"], .badRequest,
                    "invalid_request"
                ),
            ]
            for (uri, body, headers, status, code) in cases {
                let reply = try await client.post(uri, body, headers: headers)
                #expect(reply.status == status, "\(body.prefix(80)) → \(reply.text)")
                #expect(reply.errorCode == code, "\(body.prefix(80)) → \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["message"] is String)
            }
            let gets: [(String, HTTPResponse.Status, String)] = [
                ("/queue/tasks/abc", .badRequest, "invalid_request"),
                ("/queue/tasks/0", .badRequest, "invalid_request"),
                ("/queue/tasks/-4", .badRequest, "invalid_request"), ("/queue/tasks/77", .notFound, "not_found"),
                ("/queue/tasks?limit=0", .badRequest, "invalid_request"),
                ("/queue/tasks?limit=x", .badRequest, "invalid_request"),
                ("/queue/tasks?cursor=%21bad", .badRequest, "invalid_request"),
                ("/queue/tasks?status=sleeping", .badRequest, "invalid_request"),
                ("/queue/tasks?colour=red", .badRequest, "invalid_request"), ("/no/such/route", .notFound, "not_found"),
            ]
            for (uri, status, code) in gets {
                let reply = try await client.get(uri)
                #expect(reply.status == status && reply.errorCode == code, "\(uri) → \(reply.text)")
            }
            #expect(try await client.get("/queue/tasks").tasks.isEmpty, "bad input stored nothing")
        }
    }

    @Test func batchListGetCancelRetryAndStats() async throws {
        try await APITester().run { client in
            let batch = try await client.post(
                "/queue/tasks/batch", #"{"tasks":[{"type":"a"},{"type":"b"},{"type":"a","priority":2}]}"#)
            #expect(batch.status == .created && batch.tasks.count == 3)
            let ids = batch.tasks.map { $0["id"] as! Int }

            var seen: [Int] = []
            var cursor: String?
            repeat {
                let page = try await client.get("/queue/tasks?limit=2" + (cursor.map { "&cursor=" + $0 } ?? ""))
                seen += page.tasks.map { $0["id"] as! Int }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == ids.reversed())
            #expect(try await client.get("/queue/tasks?type=a").tasks.count == 2)
            #expect(try await client.get("/queue/tasks?status=queued&type=b").tasks.count == 1)

            let got = try await client.get("/queue/tasks/\(ids[0])")
            #expect(got.status == .ok && got.json["id"] as? Int == ids[0])
            let cancelled = try await client.post("/queue/tasks/\(ids[0])/cancel", "")
            #expect(cancelled.status == .ok && cancelled.json["status"] as? String == "cancelled")
            let again = try await client.post("/queue/tasks/\(ids[0])/cancel", "")
            #expect(again.status == .conflict && again.errorCode == "conflict")
            let retried = try await client.post("/queue/tasks/\(ids[0])/retry", "")
            #expect(retried.status == .ok && retried.json["status"] as? String == "queued")
            let notDead = try await client.post("/queue/tasks/\(ids[1])/retry", "")
            #expect(notDead.status == .conflict)
            #expect(try await client.post("/queue/tasks/999/cancel", "").status == .notFound)

            let stats = try await client.get("/queue/stats")
            #expect((stats.json["by_status"] as? [String: Int])?["queued"] == 3)
            #expect((stats.json["by_type"] as? [String: [String: Int]])?["a"]?["queued"] == 2)
            #expect(stats.json["oldest_ready_age_seconds"] is Double || stats.json["oldest_ready_age_seconds"] is Int)
            #expect((stats.json["throughput"] as? [String: Int])?["completed_last_minute"] == 0)
            #expect((stats.json["workers"] as? [String: Int]) == ["active": 0, "stale": 0])
        }
    }

    @Test func healthAndTheOpenAPIDocument() async throws {
        let tester = try await APITester()
        try await tester.run { client in
            let health = try await client.get("/health")
            #expect(health.status == .ok && health.json["status"] as? String == "ok")
            let pool = try #require(health.json["pool"] as? [String: Int])
            #expect(pool["write_connections"] == tester.queue.statistics.writeConnections)
            #expect(
                pool["reads"]! >= 1 && pool["in_use"] == 0 && pool["waiting"] == 0 && pool["open_connections"]! >= 1)
            #expect((health.json["database"] as? [String: String])?["url"] == tester.configuration.databaseURL)
            let spec = try await client.get("/openapi.yaml")
            #expect(spec.status == .ok && spec.text.hasPrefix("openapi: 3.0.3"))
        }
    }
}
