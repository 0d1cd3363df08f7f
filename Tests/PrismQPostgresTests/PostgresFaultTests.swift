import Foundation
import PrismQ
import PrismQHarness
import PrismQPostgres
import Synchronization
import Testing

/// What a store does when PostgreSQL ends its connections (as a restart or an operator does).
@Suite(
    "PostgreSQL store: faults", .timeLimit(.minutes(5)), .serialized,
    .enabled(if: testServerURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct PostgresFaultTests {
    @Test func callsFailAsBusyWhileTheirConnectionsAreCutAndNothingAcknowledgedIsLost() async throws {
        let name = "prismq-cut-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let store = try await makePostgresStore(applicationName: name, connectTimeout: .seconds(5))
        defer { store.close() }
        let queue = TaskQueue(store: store)
        let load = Load(queue: queue)
        let loops = (0..<6).map { index in Task { await load.run(loop: index) } }

        var ended = 0
        for _ in 0..<8 {
            #expect(await eventually(timeout: .seconds(30)) { load.calls > 20 }, "calls go through between cuts")
            load.resetCalls()
            ended += try await AdminConnection.terminateBackends(applicationName: name)
        }
        #expect(ended >= 8, "the cuts ended the store's connections")
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
    private let state = Locked(State())
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
