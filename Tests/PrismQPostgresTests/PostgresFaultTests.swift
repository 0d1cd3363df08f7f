import Foundation
import Logging
import PostgresNIO
import PrismQ
import PrismQPostgres
import Synchronization
import Testing

/// What a store does when PostgreSQL ends its connections (as a restart or an operator does).
@Suite(
    "PostgreSQL store: faults", .serialized, .enabled(if: testServerURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct PostgresFaultTests {
    @Test func callsFailAsBusyWhileTheirConnectionsAreCutAndNothingAcknowledgedIsLost() async throws {
        let name = "prismq-cut-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let store = try await makePostgresStore(applicationName: name)
        defer { store.close() }
        let queue = TaskQueue(store: store)
        let load = Load(queue: queue)
        let loops = (0..<6).map { index in Task { await load.run(loop: index) } }

        for _ in 0..<8 {
            #expect(await eventually { load.calls > 20 }, "calls go through between cuts")
            load.resetCalls()
            try await Admin.terminateBackends(applicationName: name)
        }
        load.stop()
        // Every call ends: none may hang on a connection the server ended.
        #expect(await eventually(timeout: .seconds(60)) { load.finishedLoops == loops.count }, "a call hung")
        #expect(load.unexpectedErrors.isEmpty, "only busy or storage errors: \(load.unexpectedErrors)")

        // The store recovers by itself, and every task whose enqueue was acknowledged is there.
        #expect(await eventually { (try? await queue.stats()) != nil }, "the store recovered")
        for id in load.acknowledged {
            #expect(try await queue.task(id: id).type == "cut", "task \(id) was acknowledged")
        }
        #expect(load.acknowledged.count > 50)
        #expect(load.failures > 0, "the cuts failed some calls")
    }
}

/// Producers and workers calling the store in a loop, recording what happened.
private final class Load: Sendable {
    let queue: TaskQueue
    private let state = Mutex(State())
    private struct State {
        var stopped = false
        var calls = 0
        var failures = 0
        var finished = 0
        var acknowledged: [Int64] = []
        var unexpected: [String] = []
    }

    init(queue: TaskQueue) { self.queue = queue }

    var calls: Int { state.withLock { $0.calls } }
    var failures: Int { state.withLock { $0.failures } }
    var finishedLoops: Int { state.withLock { $0.finished } }
    var acknowledged: [Int64] { state.withLock { $0.acknowledged } }
    var unexpectedErrors: [String] { state.withLock { $0.unexpected } }
    func resetCalls() { state.withLock { $0.calls = 0 } }
    func stop() { state.withLock { $0.stopped = true } }

    /// Enqueues, claims, completes and reads stats until stopped.
    func run(loop: Int) async {
        while !state.withLock({ $0.stopped }) {
            do {
                let id = try await queue.enqueue(NewTask(type: "cut")).task.id
                state.withLock { $0.acknowledged.append(id) }
                let leases = try await queue.claim(ClaimRequest(workerID: "w\(loop)", leaseDuration: .seconds(60)))
                for lease in leases { _ = try await queue.complete(lease.id, result: nil) }
                _ = try await queue.stats()
                state.withLock { $0.calls += 4 }
            } catch  where [.busy, .storage].contains(error.code) {
                state.withLock { $0.failures += 1 }
            } catch {
                state.withLock { $0.unexpected.append("\(error)") }
            }
        }
        state.withLock { $0.finished += 1 }
    }
}

/// A connection of the test's own, as the database's administrator.
private enum Admin {
    /// Ends every server process whose connection carries `applicationName`.
    static func terminateBackends(applicationName: String) async throws {
        let url = try PrismQPostgres.PostgresConfiguration(url: try #require(testServerURL))
        let logger = Logger(label: "prismq.tests.admin")
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: .disable),
            id: 1, logger: logger)
        let ended = try await connection.query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = \(applicationName)",
            logger: logger
        ).collect()
        try await connection.close()
        #expect(try ended[0].decode(Int.self) > 0, "the store had connections to end")
    }
}
