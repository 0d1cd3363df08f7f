import Foundation
import PostgresNIO
import PrismQ
import PrismQHarness
import Synchronization
import Testing

@_spi(Testing) @testable import PrismQPostgres

/// What the conformance suite cannot show: several stores (hosts) on one schema.
@Suite(
    "PostgreSQL store: many hosts", .timeLimit(.minutes(5)),
    .enabled(if: testServerURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct PostgresStoreTests {
    let schema = "hosts_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)

    @Test func tenStoresOpeningANewSchemaAtOnceCreateItOnce() async throws {
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<10 { group.addTask { try await makePostgresStore(schema: schema) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        defer { stores.forEach { $0.close() } }
        let created = try await TaskQueue(store: stores[3]).enqueue(NewTask(type: "t")).task
        #expect(try await TaskQueue(store: stores[7]).task(id: created.id).type == "t", "one schema, shared")
    }

    /// Two stores on this suite's schema, as a worker host and a producer host open it.
    func twoHosts() async throws -> (worker: PostgresStore, producer: PostgresStore) {
        (try await makePostgresStore(schema: schema), try await makePostgresStore(schema: schema))
    }

    @Test func aTaskMadeReadyThroughAnotherHostWakesAnIdlePoolAtOnce() async throws {
        let (workerHost, producerHost) = try await twoHosts()
        defer { [workerHost, producerHost].forEach { $0.close() } }
        var retryAtOnce = TaskQueueConfiguration()
        retryAtOnce.retryPolicy = .fixed(.zero)
        let producer = TaskQueue(store: producerHost, configuration: retryAtOnce)
        // The other host holds two tasks; one of them ends dead.
        let held = try await producer.enqueue(batch: [NewTask(type: "t"), NewTask(type: "t", maxAttempts: 1)])
        let leases = try await producer.claim(
            ClaimRequest(workerID: "other-host", leaseDuration: .seconds(60), maxTasks: 2))
        let (requeued, dead) = (held[0].task.id, held[1].task.id)
        _ = try await producer.fail(try #require(leases.first { $0.task.id == dead }).id, error: "no", retryable: false)

        // The pool's clock never moves, so it never wakes by polling: only a notification from
        // the other store can start each task.
        var configuration = WorkerPoolConfiguration()
        configuration.clock = ManualClock().timer
        configuration.sweepInterval = nil
        let pool = WorkerPool(queue: TaskQueue(store: workerHost), configuration: configuration)
        pool.register("t") { _ in nil }
        let running = Task { try await pool.run() }
        defer { pool.stop() }
        #expect(await eventually { workerHost.isListening })

        func completed(_ id: Int64) async throws -> Bool {
            try await eventually { try await producer.task(id: id).status == .completed }
        }
        _ = try await producer.fail(
            try #require(leases.first { $0.task.id == requeued }).id, error: "again", retryable: true)
        #expect(try await completed(requeued), "a retryable failure elsewhere woke it")
        #expect(try await completed(try await producer.enqueue(NewTask(type: "t")).task.id), "an enqueue woke it")
        _ = try await producer.retry(id: dead)
        #expect(try await completed(dead), "a retry woke it")
        pool.stop()
        try await running.value
    }
}

extension PostgresStoreTests {
    @Test func poolGaugesShowCallsRunningAndWaitingForAConnection() async throws {
        let store = try await makePostgresStore(schema: schema, maxConnections: 2)
        defer { store.close() }
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(NewTask(type: "t"))
        let lease = try #require(try await queue.claim(ClaimRequest(workerID: "w", leaseDuration: .seconds(60))).first)
        await #expect(throws: QueueError(.notFound)) { try await queue.task(id: 987_654) }
        let idle = store.statistics
        #expect(idle.inUse == 0 && idle.waiting == 0 && (1...2).contains(idle.openConnections))
        #expect(idle.errors == 0, "only busy and storage errors count")

        // Another session locks the task's row: renewals of its lease hold both connections
        // while they wait for the lock, and the other two wait for a connection.
        let admin = try await AdminConnection.open()
        try await admin.rows("BEGIN")
        try await admin.rows("SELECT id FROM \(unescaped: schema).tasks WHERE id = \(lease.task.id) FOR UPDATE")
        let renewals = (0..<4).map { _ in Task { try await queue.renew([lease.id], for: .seconds(60)) } }
        #expect(await eventually { store.statistics.inUse == 2 && store.statistics.waiting == 2 })
        let busy = store.statistics
        #expect(busy.openConnections == 2 && busy.waits >= 2, "\(busy)")
        try await admin.rows("COMMIT")
        for renewal in renewals { _ = try await renewal.value }
        let after = store.statistics
        #expect(after.inUse == 0 && after.waiting == 0 && after.openConnections == 2, "\(after)")
        try await admin.close()
    }
}

extension PostgresStoreTests {
    @Test func aHostWhoseClockReadingLagsStillClaimsATaskJustMadeReady() async throws {
        let (workerHost, producerHost) = try await twoHosts()
        defer { [workerHost, producerHost].forEach { $0.close() } }
        let made = try await TaskQueue(store: producerHost).enqueue(NewTask(type: "t")).task
        // The worker host's idea of the server's time is a minute late (a host stalled between
        // reading the clock and noting the reading would be late the same way).
        _ = workerHost.databaseClock.record(
            Int64(made.createdAt.timeIntervalSince1970 * 1000) - 60_000, roundTrip: .zero)
        let claimed = try await TaskQueue(store: workerHost).claim(ClaimRequest(workerID: "w")).first
        #expect(claimed?.task.id == made.id, "ready by the server's clock")
    }

    @Test func aStatementThatFailedToPrepareWorksOnceItsCauseIsGone() async throws {
        let store = try await makePostgresStore(schema: schema, maxConnections: 1)
        defer { store.close() }
        let queue = TaskQueue(store: store)
        _ = try await queue.enqueue(NewTask(type: "t"))
        let admin = try await AdminConnection.open()
        try await admin.rows("ALTER TABLE \(unescaped: schema).workers RENAME TO workers_away")
        await #expect(throws: QueueError.self, "the claim cannot be prepared") {
            try await queue.claim(ClaimRequest(workerID: "w"))
        }
        try await admin.rows("ALTER TABLE \(unescaped: schema).workers_away RENAME TO workers")
        try await admin.close()
        #expect(try await queue.claim(ClaimRequest(workerID: "w")).count == 1, "prepared afresh")
    }

    @Test func theHotPathsArePreparedOncePerConnection() async throws {
        let store = try await makePostgresStore(schema: schema, maxConnections: 1)
        defer { store.close() }
        let queue = TaskQueue(store: store)
        for _ in 0..<3 { _ = try await queue.enqueue(NewTask(type: "t")) }
        for _ in 0..<3 {
            let lease = try #require(try await queue.claim(ClaimRequest(workerID: "w", capabilities: ["t"])).first)
            _ = try await queue.complete(lease.id, result: nil)
        }
        // The pool's one connection: its session's prepared statements, with how often each ran.
        let prepared = try await store.client.withConnection { connection in
            try await connection.query(
                "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements", logger: store.logger
            ).collect().reduce(into: [String: Int64]()) { runs, row in
                let (name, count) = try row.decode((String, Int64).self)
                runs[name] = count
            }
        }
        #expect(prepared["prismq_insert_task"] == 3, "\(prepared)")
        #expect(prepared["prismq_claim_fifo_named"] == 3, "\(prepared)")
        #expect(prepared["prismq_complete"] == 3, "\(prepared)")
    }
}
