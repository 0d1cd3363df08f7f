import Foundation
import PrismQ
import PrismQHarness
import Synchronization
import Testing

/// `prismq serve` on a PostgreSQL server that an operator stops and starts again.
@Suite(
    "prismq serve through a PostgreSQL restart", .timeLimit(.minutes(5)),
    .enabled(if: postgresBinaries != nil, "needs PRISMQ_TEST_POSTGRES_BIN")
)
struct PostgresRestartTests {
    let cli = CLIRunner()

    @Test func serveAnswersBusyWhilePostgresIsDownAndRecoversWithNothingAcknowledgedLost() async throws {
        let cluster = try await ThrowawayCluster(cli: cli)
        let (server, base) = try await cli.serve(database: cluster.url)
        let producer = HTTPProducer(base: base)
        let producing = Task { await producer.run() }
        // Whatever fails below, nothing is left running.
        defer {
            producer.stop()
            server.process.terminate()
            cluster.stopNow()
        }
        func health() async -> Int { (try? await CLIRunner.call("GET", base + "/health"))?.0 ?? 0 }

        #expect(await eventually(timeout: .seconds(60), every: .milliseconds(50)) { producer.acknowledged.count >= 20 })
        try await cluster.stop()
        #expect(
            await eventually(timeout: .seconds(30), every: .milliseconds(50)) { await health() == 503 },
            "/health says the store is down")
        let (status, body) = try await CLIRunner.call("POST", base + "/queue/tasks", #"{"type":"down"}"#)
        #expect(status == 503 && (body["error"] as? [String: Any])?["code"] as? String == "busy", "\(status) \(body)")

        try await cluster.start()
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) { await health() == 200 },
            "the store reconnected")
        let before = producer.acknowledged.count
        #expect(
            await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                producer.acknowledged.count >= before + 20
            })
        producer.stop()
        await producing.value

        #expect(producer.unexpected.isEmpty, "every answer was 201 or 503 busy: \(producer.unexpected)")
        for id in producer.acknowledged {
            let (found, _) = try await CLIRunner.call("GET", base + "/queue/tasks/\(id)")
            #expect(found == 200, "task \(id) was acknowledged")
        }
        server.process.terminate()
        #expect(await server.wait().status == 0)
        try await cluster.stop()
        cli.remove()
    }
}

/// Enqueues over HTTP in a loop, recording the acknowledged ids and any answer that is neither
/// `201` nor `503 busy`.
private final class HTTPProducer: Sendable {
    let base: String
    private let state = Locked((stopped: false, acknowledged: [Int](), unexpected: [String]()))

    init(base: String) { self.base = base }

    var acknowledged: [Int] { state.withLock { $0.acknowledged } }
    var unexpected: [String] { state.withLock { $0.unexpected } }
    func stop() { state.withLock { $0.stopped = true } }

    func run() async {
        while !state.withLock({ $0.stopped }) {
            do {
                let (status, body) = try await CLIRunner.call("POST", base + "/queue/tasks", #"{"type":"restart"}"#)
                let code = (body["error"] as? [String: Any])?["code"] as? String
                if status == 201, let id = body["id"] as? Int {
                    state.withLock { $0.acknowledged.append(id) }
                } else if status == 503, code == "busy" {
                    try? await Task.sleep(for: .milliseconds(20))
                } else {
                    state.withLock { $0.unexpected.append("\(status) \(body)") }
                }
            } catch {
                state.withLock { $0.unexpected.append("\(error)") }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}
