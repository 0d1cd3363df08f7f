import Foundation
import Logging
import PrismQ
import PrismQHarness
import ServiceLifecycle
import Synchronization
import Testing

@testable import PrismQSQLite

@Suite("Worker pool", .timeLimit(.minutes(5)))
struct WorkerPoolTests {
    let directory = TemporaryDirectory()

    struct Greeting: Codable, Sendable {
        var name: String
    }

    /// A pool over a fresh queue with test-sized timings, running until the test ends.
    func withPool(
        configure: (inout WorkerPoolConfiguration) -> Void = { _ in },
        register: (WorkerPool) -> Void,
        body: (TaskQueue, WorkerPool) async throws -> Void
    ) async throws {
        var queueConfiguration = TaskQueueConfiguration()
        queueConfiguration.retryPolicy = .fixed(.zero)
        let queue = TaskQueue(store: try makeStore(in: directory), configuration: queueConfiguration)
        var configuration = WorkerPoolConfiguration()
        configuration.workerID = "test-pool"
        // Long enough that a late renewal on a loaded machine never expires a lease (a task
        // would then run twice); tests of renewal set a short one.
        configuration.leaseDuration = .seconds(30)
        configuration.shutdownGracePeriod = .milliseconds(200)
        configuration.sweepInterval = .milliseconds(100)
        configure(&configuration)
        let pool = WorkerPool(queue: queue, configuration: configuration)
        register(pool)
        let running = Task { try await pool.run() }
        do {
            try await body(queue, pool)
        } catch {
            pool.stop()
            _ = try? await running.value
            throw error
        }
        pool.stop()
        try await running.value
    }

    func status(_ queue: TaskQueue, _ id: Int64, is expected: TaskStatus) async throws -> Bool {
        try await eventually { try await queue.task(id: id).status == expected }
    }

    @Test func handlersCompleteTasksWithTheirResults() async throws {
        let seen = Locked<[String]>([])
        try await withPool { pool in
            pool.register("greet", as: Greeting.self) { greeting, context in
                seen.withLock { $0.append("\(greeting.name)#\(context.attempt)") }
            }
            pool.register("echo") { context in context.task.payload }
        } body: { queue, _ in
            let greet = try await queue.enqueue("greet", payload: Greeting(name: "ada"))
            let echo = try await queue.enqueue(NewTask(type: "echo", payload: try RawJSON(validating: "[1,2]"))).task
            #expect(try await status(queue, greet.id, is: .completed))
            #expect(try await status(queue, echo.id, is: .completed))
            #expect(try await queue.task(id: echo.id).result?.text == "[1,2]")
            #expect(seen.withLock { $0 } == ["ada#1"])
            let workers = try await queue.workers()
            #expect(workers.first?.id == "test-pool" && workers.first?.capabilities == ["echo", "greet"])
        }
    }

    @Test func failingHandlersRetryThenGoDeadWithTheirError() async throws {
        struct Broken: Error, CustomStringConvertible {
            var description: String { "printer on fire" }
        }
        let calls = Atomic<Int>(0)
        try await withPool { pool in
            pool.register("flaky") { _ in
                calls.add(1, ordering: .relaxed)
                throw Broken()
            }
            pool.register("bad") { _ in throw TaskFailure.permanent("never valid") }
            pool.register("typed", as: Greeting.self) { _, _ in }
        } body: { queue, _ in
            let flaky = try await queue.enqueue(NewTask(type: "flaky", maxAttempts: 3)).task
            let bad = try await queue.enqueue(NewTask(type: "bad", maxAttempts: 3)).task
            let typed = try await queue.enqueue(NewTask(type: "typed", payload: try RawJSON(validating: "42"))).task
            #expect(try await status(queue, flaky.id, is: .dead))
            let dead = try await queue.task(id: flaky.id)
            #expect(dead.attempts == 3 && dead.lastError == "Broken: printer on fire")
            #expect(calls.load(ordering: .relaxed) == 3)
            #expect(try await status(queue, bad.id, is: .dead))
            #expect(try await queue.task(id: bad.id).attempts == 1)
            #expect(try await status(queue, typed.id, is: .dead))
            #expect(try await queue.task(id: typed.id).attempts == 1, "a payload that does not decode is permanent")
        }
    }

    @Test func aHandlerThatRunsPastItsTimeoutIsCancelledAndTheAttemptFails() async throws {
        let clock = ManualClock()
        let started = Atomic<Bool>(false)
        let cancelled = Atomic<Int>(0)
        try await withPool(configure: { $0.clock = clock.timer }) { pool in
            pool.register("slow") { _ in
                started.store(true, ordering: .relaxed)
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.add(1, ordering: .relaxed)
                    throw error
                }
                return nil
            }
        } body: { queue, _ in
            let task = try await queue.enqueue(NewTask(type: "slow", maxAttempts: 1, timeout: .seconds(5))).task
            #expect(await eventually { started.load(ordering: .relaxed) })
            #expect(try await queue.task(id: task.id).status == .running, "the pool's clock has not moved")
            // The watchdog starts beside the handler: move time until it has seen its timeout.
            #expect(
                try await eventually {
                    clock.advance(by: .seconds(5))
                    return try await queue.task(id: task.id).status == .dead
                })
            let lastError = try await queue.task(id: task.id).lastError
            #expect(lastError == "Timed out after 5.0 seconds.", "\(lastError ?? "nil")")
            #expect(cancelled.load(ordering: .relaxed) == 1)
        }
    }

    /// Real clocks: the lease runs out on the store's time unless the pool renews it.
    @Test(.timeLimit(.minutes(2)))
    func aHandlerRunningPastItsLeaseKeepsItByRenewalAndRunsOnce() async throws {
        let calls = Atomic<Int>(0)
        // Renewed every 2 s, so a renewal may come 4 s late on a starved machine.
        try await withPool(configure: { $0.leaseDuration = .seconds(6) }) { pool in
            pool.register("long") { _ in
                calls.add(1, ordering: .relaxed)
                try await Task.sleep(for: .seconds(15))
                return nil
            }
        } body: { queue, _ in
            let task = try await queue.enqueue(NewTask(type: "long", maxAttempts: 3)).task
            #expect(try await status(queue, task.id, is: .completed))
            let done = try await queue.task(id: task.id)
            #expect(done.attempts == 1 && calls.load(ordering: .relaxed) == 1, "the lease was never lost")
            let events = try await queue.logs(taskID: task.id).map(\.event)
            #expect(events == [.enqueued, .claimed, .completed], "\(events)")
        }
    }

    @Test func cancellingARunningTaskStopsItsHandler() async throws {
        let started = Atomic<Bool>(false)
        let clock = ManualClock()
        try await withPool(configure: { $0.clock = clock.timer }) { pool in
            pool.register("long") { _ in
                started.store(true, ordering: .relaxed)
                try await Task.sleep(for: .seconds(60))
                return nil
            }
        } body: { queue, pool in
            let task = try await queue.enqueue(NewTask(type: "long")).task
            #expect(await eventually { started.load(ordering: .relaxed) })
            let marked = try await queue.cancel(id: task.id)
            #expect(marked.status == .running && marked.cancelRequested)
            // Renewals, every third of the 30 s lease on the pool's clock, tell the handler to stop.
            #expect(
                try await eventually {
                    clock.advance(by: .seconds(10))
                    return try await queue.task(id: task.id).status == .cancelled
                })
            #expect(await eventually { pool.runningCount == 0 })
        }
    }

    @Test func gracefulShutdownHandsUnfinishedTasksBackWithoutSpendingAnAttempt() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory))
        let clock = ManualClock()
        var configuration = WorkerPoolConfiguration()
        configuration.shutdownGracePeriod = .seconds(10)
        configuration.clock = clock.timer
        let pool = WorkerPool(queue: queue, configuration: configuration)
        let stopping = Atomic<Bool>(false)
        pool.register("stuck") { _ in
            try await Task.sleep(for: .seconds(60))
            return nil
        }
        pool.register("quick") { _ in
            // Still running when the pool is told to stop; finishes within the grace period.
            while !stopping.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            return nil
        }
        let stuck = try await queue.enqueue(NewTask(type: "stuck", maxAttempts: 1)).task
        let finished = Atomic<Bool>(false)
        let running = Task {
            defer { finished.store(true, ordering: .relaxed) }
            try await pool.run()
        }
        #expect(try await status(queue, stuck.id, is: .running))
        let quick = try await queue.enqueue(NewTask(type: "quick")).task
        #expect(try await status(queue, quick.id, is: .running))
        pool.stop()
        stopping.store(true, ordering: .relaxed)
        #expect(try await status(queue, quick.id, is: .completed), "running handlers may finish")
        #expect(try await queue.task(id: stuck.id).status == .running, "the grace period has not run out")
        let returnedEarly = finished.load(ordering: .relaxed)
        #expect(!returnedEarly)
        // The grace period starts once the stop is seen: move time until the pool has returned.
        #expect(
            await eventually {
                clock.advance(by: .seconds(10))
                return finished.load(ordering: .relaxed)
            })
        try await running.value
        let handedBack = try await queue.task(id: stuck.id)
        #expect(handedBack.status == .queued && handedBack.attempts == 0)
        #expect(try await queue.logs(taskID: stuck.id).last?.event == .released)
        #expect(try await queue.workers().first?.state == .stopped)
    }

    @Test func aHandlerThatIgnoresCancellationIsHandedBackAndItsLateResultDropped() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory))
        var configuration = WorkerPoolConfiguration()
        configuration.shutdownGracePeriod = .milliseconds(100)
        let pool = WorkerPool(queue: queue, configuration: configuration)
        let gate = Atomic<Bool>(false)
        let returned = Atomic<Bool>(false)
        pool.register("deaf") { _ in
            // Ignores cancellation: polls its gate with a sleep that cannot be cancelled.
            while !gate.load(ordering: .relaxed) {
                await Task.detached { try? await Task.sleep(for: .milliseconds(5)) }.value
            }
            returned.store(true, ordering: .relaxed)
            return try RawJSON(validating: "\"late\"")
        }
        let deaf = try await queue.enqueue(NewTask(type: "deaf")).task
        let running = Task { try await pool.run() }
        #expect(try await status(queue, deaf.id, is: .running))
        pool.stop()
        try await running.value  // returns although the handler has not
        let returnedBeforeTheGate = returned.load(ordering: .relaxed)
        #expect(!returnedBeforeTheGate)
        let handedBack = try await queue.task(id: deaf.id)
        #expect(handedBack.status == .queued && handedBack.attempts == 0)
        gate.store(true, ordering: .relaxed)
        #expect(
            await eventually {
                let done = returned.load(ordering: .relaxed)
                return done
            })
        let after = try await queue.task(id: deaf.id)
        #expect(after.status == .queued && after.result == nil, "the late result is dropped")
    }

    @Test func theServiceGroupRunsThePoolAndStopsItGracefully() async throws {
        let queue = TaskQueue(store: try makeStore(in: directory))
        let pool = WorkerPool(queue: queue)
        pool.register("t") { _ in nil }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [.init(service: pool)], logger: .init(label: "test"))
        )
        let running = Task { try await group.run() }
        let task = try await queue.enqueue(NewTask(type: "t")).task
        #expect(try await status(queue, task.id, is: .completed))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try await queue.workers().first?.state == .stopped)
    }

    @Test func anEnqueueWakesAnIdlePoolAtOnce() async throws {
        // The pool's clock never moves, so its idle sleeps never end by themselves: only the
        // wake-up of an enqueue (or a commit) can start each task.
        let clock = ManualClock()
        try await withPool { configuration in
            configuration.clock = clock.timer
        } register: { pool in
            pool.register("t") { _ in nil }
        } body: { queue, _ in
            for _ in 0..<3 {
                let task = try await queue.enqueue(NewTask(type: "t")).task
                #expect(try await status(queue, task.id, is: .completed))
            }
        }
    }

    @Test func theStrategyCanBeSwitchedWhileRunning() async throws {
        let order = Locked<[Int]>([])
        let gate = Atomic<Bool>(false)
        try await withPool { configuration in
            configuration.concurrency = 1
        } register: { pool in
            pool.register("t") { context in
                while !gate.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
                order.withLock { $0.append(context.task.priority) }
                return nil
            }
        } body: { queue, pool in
            let blocker = try await queue.enqueue(NewTask(type: "t", priority: -1)).task
            #expect(try await status(queue, blocker.id, is: .running))
            pool.strategy = .priority
            _ = try await queue.enqueue(batch: [1, 9, 5].map { NewTask(type: "t", priority: $0) })
            gate.store(true, ordering: .relaxed)
            #expect(await eventually { order.withLock { $0.count } == 4 })
            #expect(order.withLock { $0 } == [-1, 9, 5, 1])
        }
    }

    @Test func aPoolWithoutHandlersRefusesToRun() async throws {
        let pool = WorkerPool(queue: TaskQueue(store: try makeStore(in: directory)))
        await #expect(throws: QueueError(.invalidArgument)) { try await pool.run() }
    }
}
