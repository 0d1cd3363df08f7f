import Foundation
import HTTPTypes
import Metrics
import PrismQ
import PrismQClient
import PrismQHarness
import PrismQServer
import Prometheus
import Testing

@Suite("REST worker endpoints, auth and the OpenAPI document", .timeLimit(.minutes(5)))
struct WorkerAPITests {
    @Test func aWorkerClaimsHeartbeatsAndCompletesAndAStaleTokenChangesNothing() async throws {
        try await APITester().run { client in
            _ = try await client.post("/queue/tasks", #"{"type":"a","priority":1}"#)
            _ = try await client.post("/queue/tasks", #"{"type":"b","priority":9}"#)
            let claim = try await client.post(
                "/queue/claim",
                #"{"worker_id":"py-1","capabilities":["a","b"],"strategy":"priority","lease_seconds":5}"#
            )
            #expect(claim.status == .ok && claim.tasks.count == 1)
            let task = claim.tasks[0]
            #expect(
                task["type"] as? String == "b" && task["status"] as? String == "running"
                    && task["attempts"] as? Int == 1)
            let id = task["id"] as! Int
            let token = task["lease_token"] as! Int

            let beat = try await client.post("/queue/tasks/\(id)/heartbeat", #"{"lease_token":\#(token)}"#)
            #expect(beat.status == .ok && beat.json["cancel_requested"] as? Bool == false)
            #expect((beat.json["lease_expires_at"] as? String)?.hasSuffix("Z") == true)
            let unknown = try await client.post("/queue/tasks/999/heartbeat", #"{"lease_token":1,"lease_seconds":5}"#)
            #expect(unknown.status == .notFound && unknown.errorCode == "not_found")
            let stale = try await client.post("/queue/tasks/\(id)/heartbeat", #"{"lease_token":\#(token + 1)}"#)
            #expect(stale.status == .conflict && stale.errorCode == "lease_lost")
            let staleComplete = try await client.post(
                "/queue/tasks/\(id)/complete", #"{"lease_token":"\#(token + 1)"}"#)
            #expect(staleComplete.status == .conflict && staleComplete.errorCode == "lease_lost")
            let staleFail = try await client.post(
                "/queue/tasks/\(id)/fail", #"{"lease_token":\#(token + 1),"error":"x","retryable":false}"#)
            #expect(staleFail.status == .conflict && staleFail.errorCode == "lease_lost")
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "running")

            let done = try await client.post(
                "/queue/tasks/\(id)/complete", #"{"lease_token":\#(token),"result":{"sent":true}}"#)
            #expect(done.status == .ok && done.json["status"] as? String == "completed")
            #expect((done.json["result"] as? [String: Bool]) == ["sent": true])
            let twice = try await client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#)
            #expect(twice.status == .conflict && twice.errorCode == "lease_lost")

            let workers = try await client.get("/queue/workers")
            let worker = (workers.json["workers"] as? [[String: Any]])?.first
            #expect(worker?["id"] as? String == "py-1" && worker?["hostname"] is NSNull && worker?["pid"] is NSNull)
            #expect(worker?["state"] as? String == "active" && worker?["current_tasks"] as? Int == 0)
            #expect(worker?["capabilities"] as? [String] == ["a", "b"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWorkerWhoseLeaseRanOutAndWasReclaimedCanNoLongerTouchTheTask() async throws {
        let tester = try await APITester()
        try await tester.run { client in
            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            let claimed = try await client.post("/queue/claim", #"{"worker_id":"w1","lease_seconds":0.1}"#)
            let first = try #require(claimed.tasks.first, "\(claimed.text)")
            let id = first["id"] as! Int
            let oldToken = first["lease_token"] as! Int
            // The lease runs out; a sweep takes the task back and another worker claims it.
            var swept = 0
            while swept == 0 {
                try await Task.sleep(for: .milliseconds(10))
                swept = try await tester.queue.requeueExpired(limit: 10)
            }
            let second = try await client.post("/queue/claim", #"{"worker_id":"w2","lease_seconds":30}"#).tasks
            #expect(second.first?["id"] as? Int == id && second.first?["attempts"] as? Int == 2)

            for (route, body) in [
                ("heartbeat", #"{"lease_token":\#(oldToken)}"#),
                ("complete", #"{"lease_token":\#(oldToken),"result":{"late":true}}"#),
                ("fail", #"{"lease_token":\#(oldToken),"error":"late","retryable":true}"#),
                ("release", #"{"lease_token":\#(oldToken)}"#),
            ] {
                let late = try await client.post("/queue/tasks/\(id)/\(route)", body)
                #expect(late.status == .conflict && late.errorCode == "lease_lost", "\(route): \(late.text)")
            }
            let task = try await client.get("/queue/tasks/\(id)").json
            #expect(task["status"] as? String == "running" && task["claimed_by"] as? String == "w2")
            #expect(task["attempts"] as? Int == 2 && task["result"] is NSNull)
            let token = second.first?["lease_token"] as? Int ?? 0
            let done = try await client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#)
            #expect(done.status == .ok && done.json["status"] as? String == "completed")
        }
    }

    @Test func failRequeuesWithBackoffOrSendsToDead() async throws {
        let tester = try await APITester()
        try await tester.run { client in
            _ = try await client.post("/queue/tasks", #"{"type":"t","max_attempts":2}"#)
            _ = try await client.post("/queue/tasks", #"{"type":"u"}"#)
            func claimOne(_ type: String) async throws -> (Int, Int) {
                let reply = try await client.post("/queue/claim", #"{"worker_id":"w","capabilities":["\#(type)"]}"#)
                let task = try #require(reply.tasks.first)
                return (task["id"] as! Int, task["lease_token"] as! Int)
            }
            var (id, token) = try await claimOne("t")
            let retried = try await client.post("/queue/tasks/\(id)/fail", #"{"lease_token":\#(token),"error":"boom"}"#)
            #expect(
                retried.status == .ok && retried.json["status"] as? String == "queued"
                    && retried.json["last_error"] as? String == "boom")
            (id, token) = try await claimOne("t")
            let dead = try await client.post(
                "/queue/tasks/\(id)/fail", #"{"lease_token":\#(token),"error":"boom again"}"#)
            #expect(dead.json["status"] as? String == "dead" && dead.json["attempts"] as? Int == 2)
            (id, token) = try await claimOne("u")
            let permanent = try await client.post(
                "/queue/tasks/\(id)/fail", #"{"lease_token":\#(token),"error":"bad","retryable":false}"#
            )
            #expect(permanent.json["status"] as? String == "dead" && permanent.json["attempts"] as? Int == 1)
            let missing = try await client.post("/queue/tasks/\(id)/fail", #"{"lease_token":\#(token)}"#)
            #expect(missing.status == .badRequest)
            let stats = try await client.get("/queue/stats")
            #expect((stats.json["throughput"] as? [String: Int])?["failed_last_minute"] == 3)
            #expect((stats.json["throughput"] as? [String: Int])?["failed_last_day"] == 3)
            // The additions: each type's activity, over the wire and through a RemoteStore.
            let activity = try #require(stats.json["activity_by_type"] as? [String: [String: Any]])
            let failed = activity.values.reduce(0) { $0 + ($1["failed_last_minute"] as? Int ?? 0) }
            #expect(failed == 3, "\(activity)")
            let remote = try await TaskQueue(store: try RemoteStore(url: "http://127.0.0.1:\(client.port)")).stats()
            let local = try await tester.queue.stats()
            #expect(
                remote.failedLastDay == 3 && remote.activityByType == local.activityByType, "\(remote.activityByType)")
        }
    }

    @Test func aRunningTaskCancelledOverHTTPEndsCancelledWhenItsWorkerStops() async throws {
        try await APITester().run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t"}"#).json["id"] as! Int
            let token = try await client.post("/queue/claim", #"{"worker_id":"w"}"#).tasks[0]["lease_token"] as! Int
            let marked = try await client.post("/queue/tasks/\(id)/cancel", "")
            #expect(marked.json["status"] as? String == "running" && marked.json["cancel_requested"] as? Bool == true)
            let beat = try await client.post(
                "/queue/tasks/\(id)/heartbeat", #"{"lease_token":\#(token),"lease_seconds":10}"#)
            #expect(beat.json["cancel_requested"] as? Bool == true)
            let stopped = try await client.post(
                "/queue/tasks/\(id)/fail", #"{"lease_token":\#(token),"error":"stopped"}"#)
            #expect(stopped.json["status"] as? String == "cancelled")
        }
    }

    @Test func aLongPollClaimReturnsAsSoonAsATaskIsEnqueued() async throws {
        try await APITester().run { client in
            // On a connection of its own: the test client's one connection would queue the
            // enqueue behind the waiting claim.
            let connection = try RawHTTPConnection(port: client.port)
            defer { connection.disconnect() }
            connection.send(
                "POST", "/queue/claim", headers: ["Content-Type: application/json"],
                body: #"{"worker_id":"w","wait_seconds":30}"#)
            try await Task.sleep(for: .milliseconds(200))
            _ = try await client.post("/queue/tasks", #"{"type":"late"}"#)
            let reply = await connection.response()
            #expect(reply.status == 200 && reply.body.contains(#""type":"late""#))
            let empty = try await client.post("/queue/claim", #"{"worker_id":"w","wait_seconds":0.2}"#)
            #expect(empty.status == .ok && empty.tasks.isEmpty)
        }
    }

    @Test func badClaimsAreRefused() async throws {
        try await APITester().run { client in
            for body in [
                #"{}"#, #"{"worker_id":""}"#, #"{"worker_id":"w","max_tasks":101}"#,
                #"{"worker_id":"w","max_tasks":0}"#,
                #"{"worker_id":"w","wait_seconds":31}"#, #"{"worker_id":"w","strategy":"random"}"#,
                #"{"worker_id":"w","capabilities":["bad type"]}"#, #"{"worker_id":"w","lease_seconds":0}"#,
                #"{"worker_id":"w","extra":1}"#, #"{"worker_id":7}"#,
            ] {
                let reply = try await client.post("/queue/claim", body)
                #expect(reply.status == .badRequest && reply.errorCode == "invalid_request", "\(body) → \(reply.text)")
            }
        }
    }

    @Test func aTokenGuardsEverythingButHealth() async throws {
        try await APITester(token: "s3cret").run { client in
            #expect(try await client.get("/health").status == .ok)
            let anonymous = try await client.get("/queue/stats")
            #expect(anonymous.status == .unauthorized && anonymous.errorCode == "unauthorized")
            #expect(
                try await client.get("/queue/stats", headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            #expect(try await client.get("/queue/stats", headers: [.authorization: "Bearer s3cret"]).status == .ok)
            #expect(try await client.get("/openapi.yaml").status == .unauthorized)
            let post = try await client.post("/queue/tasks", #"{"type":"t"}"#)
            #expect(post.status == .unauthorized)
            let stats = try await client.get("/queue/stats", headers: [.authorization: "Bearer s3cret"])
            #expect((stats.json["by_status"] as? [String: Int])?["queued"] == 0, "the refused enqueue stored nothing")
        }
    }

    /// Every route but `/health` and the dashboard page, each with a body it would accept:
    /// without the token each is refused with 401 and changes nothing.
    @Test func everyRouteButHealthAndTheDashboardRefusesACallerWithoutTheToken() async throws {
        let authorized: HTTPFields = [.contentType: "application/json", .authorization: "Bearer s3cret"]
        try await APITester(token: "s3cret").run { client in
            _ = try await client.post("/queue/tasks", #"{"type":"t"}"#, headers: authorized)
            let claimed = try await client.post("/queue/claim", #"{"worker_id":"w"}"#, headers: authorized).tasks
            let lease = try #require(claimed.first)
            let (id, token) = (lease["id"] as! Int, lease["lease_token"] as! Int)
            let bodies = [
                "POST /queue/tasks": #"{"type":"t"}"#, "POST /queue/tasks/batch": #"{"tasks":[{"type":"t"}]}"#,
                "POST /queue/claim": #"{"worker_id":"x"}"#,
                "POST /queue/tasks/{id}/heartbeat": #"{"lease_token":\#(token)}"#,
                "POST /queue/tasks/{id}/complete": #"{"lease_token":\#(token)}"#,
                "POST /queue/tasks/{id}/fail": #"{"lease_token":\#(token),"error":"x"}"#,
                "POST /queue/tasks/{id}/release": #"{"lease_token":\#(token)}"#,
                "POST /queue/settle":
                    #"{"outcomes":[{"task_id":\#(id),"lease_token":\#(token),"outcome":"complete"}]}"#,
            ]
            let open: Set = ["GET /health", "GET /"]
            var checked = 0
            for route in QueueServer.routes where !open.contains(route) {
                let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
                let path = parts[1].replacingOccurrences(of: "{id}", with: "\(id)")
                let reply = try await client.request(
                    HTTPRequest.Method(rawValue: parts[0])!, path,
                    body: parts[0] == "POST" ? bodies[route] ?? "{}" : nil)
                #expect(reply.status == .unauthorized && reply.errorCode == "unauthorized", "\(route): \(reply.status)")
                #expect(reply.headers[.wwwAuthenticate] == "Bearer", "\(route)")
                checked += 1
            }
            #expect(checked == QueueServer.routes.count - open.count)
            let task = try await client.get("/queue/tasks/\(id)", headers: authorized).json
            #expect(
                task["status"] as? String == "running"
                    && task["lease_expires_at"] as? String == lease["lease_expires_at"] as? String, "nothing changed")
            let stats = try await client.get("/queue/stats", headers: authorized).json
            #expect((stats["by_status"] as? [String: Int])?["queued"] == 0, "nothing was enqueued")
        }
    }

    @Test func openAddressesNeedATokenUnlessInsecure() throws {
        var configuration = ServerConfiguration()
        configuration.host = "0.0.0.0"
        #expect(throws: QueueError(.invalidArgument)) { try configuration.validate() }
        configuration.insecure = true
        try configuration.validate()
        configuration.insecure = false
        configuration.token = "t"
        try configuration.validate()
        configuration.host = "127.0.0.1"
        configuration.token = nil
        try configuration.validate()
    }

    /// Every route the server registers is in openapi.yaml, and every path there is served.
    @Test func theOpenAPIDocumentListsExactlyTheServedRoutes() throws {
        var documented: [String] = []
        var path: String?
        for line in QueueServer.openAPIDocument.split(separator: "\n") {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let current = path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(method) {
                    documented.append("\(method.uppercased()) \(current)")
                }
            } else if !line.hasPrefix(" ") {
                path = nil
            }
        }
        #expect(documented.sorted() == QueueServer.routes.sorted())
    }
}

@Suite("Dashboard and its endpoints", .timeLimit(.minutes(5)))
struct DashboardAPITests {
    @Test func theDashboardPageIsServedWithoutAToken() async throws {
        try await APITester(token: "t").run { client in
            let page = try await client.get("/")
            #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.text.contains("<title>PrismQ</title>") && page.text.contains("/queue/throughput"))
        }
    }

    @Test func throughputCountsCompletionsAndFailuresPerMinute() async throws {
        try await APITester().run { client in
            _ = try await client.post("/queue/tasks/batch", #"{"tasks":[{"type":"t"},{"type":"t"}]}"#)
            let claimed = try await client.post("/queue/claim", #"{"worker_id":"w","max_tasks":2}"#).tasks
            _ = try await client.post(
                "/queue/tasks/\(claimed[0]["id"]!)/complete", #"{"lease_token":\#(claimed[0]["lease_token"]!)}"#)
            _ = try await client.post(
                "/queue/tasks/\(claimed[1]["id"]!)/fail", #"{"lease_token":\#(claimed[1]["lease_token"]!),"error":"x"}"#
            )
            let reply = try await client.get("/queue/throughput?minutes=5")
            let minutes = reply.json["minutes"] as? [[String: Any]] ?? []
            #expect(minutes.count == 5)
            // In the last minute, or the one before when the test ran across a minute's end.
            let recent = minutes.suffix(2)
            #expect(recent.map { $0["completed"] as? Int ?? 0 }.reduce(0, +) == 1)
            #expect(recent.map { $0["failed"] as? Int ?? 0 }.reduce(0, +) == 1)
            #expect(minutes.dropLast(2).allSatisfy { $0["completed"] as? Int == 0 })
            #expect(try await client.get("/queue/throughput?minutes=0").status == .badRequest)
            #expect(try await client.get("/queue/throughput?minutes=x").status == .badRequest)

            let logs = try await client.get("/queue/tasks/\(claimed[1]["id"]!)/logs")
            let events = (logs.json["logs"] as? [[String: Any]] ?? []).map { $0["event"] as? String }
            #expect(events == ["enqueued", "claimed", "failed"])
            #expect(try await client.get("/queue/tasks/999/logs").status == .notFound)
        }
    }
}

@Suite("Metrics", .timeLimit(.minutes(5)))
struct MetricsAPITests {
    @Test func metricsExportTaskCountersQueueDepthAndPoolStatistics() async throws {
        MetricsTestBootstrap.once()
        try await APITester().run(metrics: MetricsTestBootstrap.registry) { client in
            _ = try await client.post("/queue/tasks", #"{"type":"metered"}"#)
            let claimed = try await client.post("/queue/claim", #"{"worker_id":"w","capabilities":["metered"]}"#).tasks
            _ = try await client.post(
                "/queue/tasks/\(claimed[0]["id"]!)/complete", #"{"lease_token":\#(claimed[0]["lease_token"]!)}"#)
            let metrics = try await client.get("/metrics")
            #expect(metrics.status == .ok && metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            for line in [
                #"prismq_tasks_enqueued_total{type="metered"}"#, #"prismq_tasks_claimed_total{type="metered"}"#,
                #"prismq_tasks_completed_total{type="metered"}"#, #"prismq_queue_depth{status="completed"} 1"#,
                #"prismq_queue_depth_by_type{type="metered",status="completed"} 1"#, "prismq_store_writes ",
                "prismq_task_duration_seconds", "prismq_task_queue_wait_seconds", "hb_requests",
            ] {
                #expect(metrics.text.contains(line), "missing \(line)")
            }
        }
    }
}

/// swift-metrics can be bootstrapped once per process; the metrics test shares this registry.
enum MetricsTestBootstrap {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

    static func once() {
        _ = bootstrapped
    }
}

@Suite("Server configuration", .timeLimit(.minutes(5)))
struct ServerConfigurationTests {
    @Test(arguments: ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
    func loopbackAddressesNeedNoToken(host: String) throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        try configuration.validate()
    }

    @Test(arguments: ["0.0.0.0", "127.example.com", "127.0.0", "10.0.0.1", "example.com"])
    func otherAddressesNeedATokenOrInsecure(host: String) throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        #expect(throws: QueueError(.invalidArgument)) { try configuration.validate() }
    }
}
