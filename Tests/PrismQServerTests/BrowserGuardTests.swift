import Foundation
import HTTPTypes
import PrismQ
import PrismQHarness
import Testing

@testable import PrismQServer

@Suite("Browsers cannot drive the server: content type, Host and Origin", .timeLimit(.minutes(2)))
struct BrowserGuardTests {
    @Test func everyPostNeedsAJSONContentTypeEvenWithoutABody() async throws {
        try await APITester().run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t"}"#).json["id"] as! Int
            let notJSON: [HTTPFields] = [
                [:], [.contentType: "text/plain"], [.contentType: "application/x-www-form-urlencoded"],
            ]
            for headers in notJSON {
                for path in ["/queue/tasks/\(id)/cancel", "/queue/tasks/\(id)/retry"] {
                    let reply = try await client.request(.post, path, headers: headers)
                    #expect(reply.status == .unsupportedMediaType && reply.errorCode == "unsupported_media_type")
                }
                let enqueue = try await client.post("/queue/tasks", #"{"type":"u"}"#, headers: headers)
                #expect(enqueue.status == .unsupportedMediaType)
            }
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "queued")
            #expect((try await client.get("/queue/stats").json["by_status"] as? [String: Int])?["queued"] == 1)
            let json = try await client.post(
                "/queue/tasks/\(id)/cancel", "", headers: [.contentType: "Application/JSON; charset=utf-8"])
            #expect(json.status == .ok && json.json["status"] as? String == "cancelled")
        }
    }

    @Test(arguments: [
        ("application/json", true), ("Application/JSON; charset=utf-8", true), (" \tapplication/json ;q=1", true),
        ("APPLICATION/JSON", true), ("application/jsonx", false), ("application/json-seq", false),
        ("application/json, text/plain", false), ("text/plain", false), ("", false), ("application/jso", false),
        ("application\u{0F}json", false), ("\u{A0}application/json", false),
    ])
    func onlyJSONMediaTypesAreJSON(contentType: String, isJSON: Bool) {
        #expect(ContentType.isJSON(contentType) == isJSON, "\(contentType)")
    }

    @Test(arguments: ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.1.nip.io", "[::1"])
    func aHostTheServerDoesNotAnswerToIsMisdirected(host: String) async throws {
        try await APITester().run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t"}"#).json["id"] as! Int
            for (method, path) in [("GET", "/queue/stats"), ("GET", "/"), ("POST", "/queue/tasks/\(id)/cancel")] {
                let connection = try RawHTTPConnection(port: client.port)
                defer { connection.disconnect() }
                connection.send(method, path, host: host, headers: ["Content-Type: application/json"])
                let reply = await connection.response()
                #expect(reply.status == 421, "\(method) \(path) Host: \(host)")
                #expect(reply.body.contains(#""code":"misdirected_request""#))
            }
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "queued")
        }
    }

    @Test func theLoopbackNamesTheBoundAddressAndAllowedHostsAreAnswered() async throws {
        var tester = try await APITester()
        tester.configuration.allowedHosts = ["Queue.Internal"]
        try await tester.run { client in
            // Any IP address too: DNS rebinding needs a name (remote clients of 0.0.0.0 use addresses).
            let hosts = [
                "localhost", "127.0.0.1:\(client.port)", "[::1]:\(client.port)", "LOCALHOST", "queue.internal:80",
                "10.0.0.5:8080", "[2001:db8::1]:80",
            ]
            for host in hosts {
                let connection = try RawHTTPConnection(port: client.port)
                defer { connection.disconnect() }
                connection.send("GET", "/queue/stats", host: host)
                #expect(await connection.response().status == 200, "Host: \(host)")
            }
        }
    }

    @Test func aCrossOriginRequestMayNotChangeTheQueue() async throws {
        var tester = try await APITester()
        tester.configuration.allowedHosts = ["queue.example.com"]
        try await tester.run { client in
            let id = try await client.post("/queue/tasks", #"{"type":"t"}"#).json["id"] as! Int
            for origin in ["http://evil.example", "null", "http://127.0.0.1:1", "http://10.0.0.5", "ftp://127.0.0.1"] {
                let connection = try RawHTTPConnection(port: client.port)
                defer { connection.disconnect() }
                connection.send(
                    "POST", "/queue/tasks/\(id)/cancel", host: "127.0.0.1:\(client.port)",
                    headers: ["Content-Type: application/json", "Origin: \(origin)"])
                let reply = await connection.response()
                #expect(reply.status == 403 && reply.body.contains(#""code":"forbidden""#), "Origin: \(origin)")
            }
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "queued")

            // The dashboard's own calls come from the page's origin, which is the server's.
            let connection = try RawHTTPConnection(port: client.port)
            defer { connection.disconnect() }
            connection.send(
                "POST", "/queue/tasks/\(id)/cancel", host: "127.0.0.1:\(client.port)",
                headers: ["Content-Type: application/json", "Origin: http://127.0.0.1:\(client.port)"])
            #expect(await connection.response().status == 200)
            #expect(try await client.get("/queue/tasks/\(id)").json["status"] as? String == "cancelled")
            // So do a proxy's pages, under a name given with --allowed-host.
            let proxied = try RawHTTPConnection(port: client.port)
            defer { proxied.disconnect() }
            proxied.send(
                "POST", "/queue/tasks/\(id)/retry", host: "127.0.0.1:\(client.port)",
                headers: ["Content-Type: application/json", "Origin: https://queue.example.com"])
            #expect(await proxied.response().status == 200)
        }
    }
}
