import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs tasks in this process: claims ready tasks of the types it has handlers for, runs the
/// handlers under renewed leases, and records each outcome.
///
/// A swift-service-lifecycle `Service`: add it to the host's `ServiceGroup` and it starts and
/// stops with the app. On graceful shutdown it stops claiming, lets running handlers finish
/// within ``WorkerPoolConfiguration/shutdownGracePeriod``, then cancels them and hands their
/// tasks back to `queued` without spending the attempt.
///
/// ```swift
/// let pool = WorkerPool(queue: queue)
/// pool.register("email.send", as: Email.self) { email, context in try await send(email) }
/// try await ServiceGroup(services: [pool], logger: logger).run()
/// ```
public final class WorkerPool: Service, Sendable {
    /// A handler: gets the task and returns its result (or `nil`), or throws to fail the attempt.
    public typealias Handler = @Sendable (TaskContext) async throws -> RawJSON?

    /// Why the pool stopped a running handler.
    enum StopReason: Sendable {
        case cancelRequested, leaseLost, timedOut, shutdown
    }

    /// A handler the pool is running.
    struct Running: Sendable {
        var lease: Lease
        /// The task that runs the handler and hands its outcome over (set once started).
        var handler: Task<Void, Never>?
        var stopReason: StopReason?
    }

    /// A finished handler's outcome, waiting for the next round's write.
    struct Unsettled: Sendable {
        var settlement: Settlement
        /// Rounds whose write failed with this outcome in it.
        var failedWrites = 0
    }

    private struct State: Sendable {
        var handlers: [String: Handler] = [:]
        var fallback: Handler?
        var strategy: SchedulingStrategy
        /// Claimed tasks whose outcome is not yet recorded (running or unsettled).
        var running: [LeaseID: Running] = [:]
        var unsettled: [Unsettled] = []
        var stopping = false
    }

    /// The queue the pool serves.
    public let queue: TaskQueue
    /// The pool's settings (its strategy may since have changed: see ``strategy``).
    public let configuration: WorkerPoolConfiguration
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeup = WakeupSignal()
    private let stopSignal = WakeupSignal()
    private let settled = WakeupSignal()
    private let backgroundStop = WakeupSignal()

    /// A pool over `queue`. Register handlers before running it.
    public init(
        queue: TaskQueue, configuration: WorkerPoolConfiguration = WorkerPoolConfiguration(),
        logger: Logger = Logger(label: "prismq.worker")
    ) {
        self.queue = queue
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "prismq.worker.id"] = "\(configuration.workerID)"
        self.logger = logger
        self.state = Mutex(State(strategy: configuration.strategy))
    }

    /// Handles tasks of `type` with raw JSON payloads; the returned JSON becomes the result.
    public func register(_ type: String, handler: @escaping Handler) {
        state.withLock { $0.handlers[type] = handler }
    }

    /// Handles tasks of every type that has no handler of its own. A pool with a fallback
    /// claims tasks of any type.
    public func registerFallback(handler: @escaping Handler) {
        state.withLock { $0.fallback = handler }
    }

    /// Handles tasks of `type` whose payload decodes as `Payload`. A payload that does not
    /// decode fails the task for good (`dead`): no retry would fix it.
    public func register<Payload: Decodable & Sendable>(
        _ type: String, as payload: Payload.Type,
        handler: @escaping @Sendable (Payload, TaskContext) async throws -> Void
    ) {
        register(type) { context in
            let value: Payload
            do {
                value = try context.task.payload.decode(as: Payload.self)
            } catch {
                throw TaskFailure.permanent("\(error)")
            }
            try await handler(value, context)
            return nil
        }
    }

    /// The strategy the pool claims with; set it to switch while running.
    public var strategy: SchedulingStrategy {
        get { state.withLock { $0.strategy } }
        set { state.withLock { $0.strategy = newValue } }
    }

    /// How many handlers are running now.
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// Asks the pool to stop as on graceful shutdown (for hosts that do not use a `ServiceGroup`).
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeup.notify()
        stopSignal.notify()
    }

    /// Claims and runs tasks until graceful shutdown, ``stop()`` or cancellation.
    public func run() async throws {
        try configuration.validate()
        let (capabilities, hasFallback) = state.withLock { ($0.handlers.keys.sorted(), $0.fallback != nil) }
        guard capabilities.count <= TaskValidation.maxCapabilities else {
            throw QueueError(
                .invalidArgument,
                "A worker pool handles at most \(TaskValidation.maxCapabilities) task types; use a fallback handler.")
        }
        guard !capabilities.isEmpty || hasFallback else {
            throw QueueError(.invalidArgument, "The worker pool has no handlers; register one before running it.")
        }
        try await queue.register(
            WorkerRegistration(
                id: configuration.workerID, hostname: ProcessInfo.processInfo.hostName,
                pid: Int(ProcessInfo.processInfo.processIdentifier), capabilities: hasFallback ? [] : capabilities,
                strategy: strategy
            )
        )
        queue.wakeups.add(wakeup)
        let commits = queue.watchCommits { [wakeup] in wakeup.notify() }
        defer {
            queue.wakeups.remove(wakeup)
            commits?.cancel()
        }
        logger.info("Worker pool started", metadata: ["prismq.capabilities": "\(capabilities)"])

        let renewer = Task { await renewLeases() }
        // A remote queue is swept by its server.
        let sweepInterval = queue.isMaintainable ? configuration.sweepInterval : nil
        let sweeper = sweepInterval.map { interval in
            Task { await sweep(every: interval) }
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await self.workLoop(capabilities: hasFallback ? [] : capabilities, watching: commits != nil)
                }
                group.addTask { await self.enforceGracePeriod() }
            }
        } onGracefulShutdown: {
            self.stop()
        }
        backgroundStop.notify()
        renewer.cancel()
        sweeper?.cancel()
        _ = await renewer.value
        _ = await sweeper?.value
        try? await Task.detached { try await self.queue.workerStopped(id: self.configuration.workerID) }.value
        logger.info("Worker pool stopped")
    }

    private var isStopping: Bool {
        state.withLock { $0.stopping } || Task.isCancelled
    }

    // MARK: The work loop

    /// Each round records the outcomes of finished handlers and claims tasks for the free
    /// slots in one store call (one transaction in SQLite), then starts the claimed handlers.
    /// Stops claiming when the pool stops; returns once every claimed task is settled. With a
    /// store that cannot watch for commits (`watching` false), an idle pool long-polls.
    private func workLoop(capabilities: [String], watching: Bool) async {
        var idle = configuration.idlePoll.lowerBound
        var errorBackoff = Duration.milliseconds(50)
        while true {
            // Handlers that finished together settle together: let the others that are ready
            // run first, so that one write carries all their outcomes.
            await Task.yield()
            let (batch, free, stopping, holding) = state.withLock { state in
                defer { state.unsettled.removeAll() }
                let busy = state.running.count - state.unsettled.count
                return (state.unsettled, configuration.concurrency - busy, state.stopping, !state.running.isEmpty)
            }
            let claiming = stopping || Task.isCancelled ? 0 : free
            if batch.isEmpty && claiming == 0 {
                guard holding else { return }
                await waitForWakeup(timeout: stopping ? .milliseconds(20) : configuration.idlePoll.upperBound)
                continue
            }
            do {
                var request =
                    claiming == 0
                    ? nil
                    : ClaimRequest(
                        workerID: configuration.workerID, capabilities: capabilities, strategy: strategy,
                        leaseDuration: configuration.leaseDuration, maxTasks: claiming
                    )
                if !watching && batch.isEmpty && claiming == configuration.concurrency {
                    request?.wait = Self.longPoll
                }
                let result = try await queue.settle(batch.map(\.settlement), thenClaim: request)
                errorBackoff = .milliseconds(50)
                apply(result.outcomes, of: batch)
                result.leases.forEach(start)
                if !result.leases.isEmpty || claiming == 0 {
                    idle = configuration.idlePoll.lowerBound
                    if result.leases.count == claiming { continue }
                }
                idle = try await sleepUntilWork(capabilities: capabilities, idle: idle, watching: watching)
            } catch {
                retryLater(batch, after: error)
                await waitForWakeup(timeout: errorBackoff)
                errorBackoff = min(errorBackoff * 2, .seconds(5))
            }
        }
    }

    /// How long an idle pool's claim waits for a task on a store that cannot watch for commits.
    static let longPoll = Duration.seconds(2)

    /// Waits for a wake-up; a cancelled pool still waits (its handlers are finishing).
    private func waitForWakeup(timeout: Duration) async {
        if Task.isCancelled {
            _ = await Task.detached { await self.wakeup.wait(timeout: timeout) }.value
        } else {
            _ = await wakeup.wait(timeout: timeout)
        }
    }

    /// Sleeps (without writing) until a task is ready or a handler finished. It looks at the
    /// ready set again when woken by an enqueue in this process or a commit in any (see
    /// ``TaskQueue/watchCommits(_:)``), when the next delayed task is due, or after the idle
    /// poll interval. On a store that can tell neither (`nil`, not `watching`), it claims again
    /// after each sleep.
    /// - Returns: the next idle interval.
    private func sleepUntilWork(capabilities: [String], idle: Duration, watching: Bool) async throws -> Duration {
        var idle = idle
        while !isStopping {
            let untilReady = try await queue.timeUntilReady(capabilities: capabilities)
            if untilReady == .zero { return configuration.idlePoll.lowerBound }
            let sleep = min(idle, untilReady ?? idle)
            idle = min(idle * 2, configuration.idlePoll.upperBound)
            // A task enqueued here is likely ready (a delayed one costs an empty claim), and a
            // finished handler wants settling: go now. A commit elsewhere may be anything: look.
            if await wakeup.wait(timeout: sleep), wakeup.takeEnqueued() || state.withLock({ !$0.unsettled.isEmpty }) {
                return configuration.idlePoll.lowerBound
            }
            if untilReady == nil && !watching { return idle }
        }
        return idle
    }

    /// Takes in a round's outcomes: settled tasks leave the pool; a result too large to store
    /// fails its task for good in the next round instead.
    private func apply(_ outcomes: [Result<QueueTask, QueueError>], of batch: [Unsettled]) {
        var retry: [Unsettled] = []
        for (item, outcome) in zip(batch, outcomes) {
            let lease = item.settlement.lease
            if case .failure(let error) = outcome {
                if error.code == .payloadTooLarge {
                    let message = "The handler's result is too large to store: \(error)"
                    retry.append(
                        Unsettled(
                            settlement: Settlement(lease, .failed(error: message, retryable: false))))
                    continue
                }
                logger.info(
                    "The outcome was not recorded",
                    metadata: ["prismq.task.id": "\(lease.taskID)", "prismq.error": "\(error)"]
                )
            }
            state.withLock { _ = $0.running.removeValue(forKey: lease) }
        }
        if !retry.isEmpty { state.withLock { $0.unsettled.append(contentsOf: retry) } }
        settled.notify()
    }

    /// Keeps a failed round's outcomes for the next round (their leases are still renewed),
    /// giving up on one after 8 failed writes: its lease then expires and the task runs again.
    private func retryLater(_ batch: [Unsettled], after error: any Error) {
        logger.warning("Could not record outcomes or claim; retrying", metadata: ["prismq.error": "\(error)"])
        var kept: [Unsettled] = []
        for var item in batch {
            item.failedWrites += 1
            if item.failedWrites < 8 {
                kept.append(item)
            } else {
                let lease = item.settlement.lease
                logger.error(
                    "Gave up recording the outcome; the lease will expire",
                    metadata: ["prismq.task.id": "\(lease.taskID)", "prismq.error": "\(error)"]
                )
                state.withLock { _ = $0.running.removeValue(forKey: lease) }
            }
        }
        state.withLock { $0.unsettled.insert(contentsOf: kept, at: 0) }
        settled.notify()
    }

    // MARK: Running handlers

    private func start(_ lease: Lease) {
        let context = TaskContext(task: lease.task, lease: lease.id, logger: taskLogger(lease.task))
        let handler = state.withLock { $0.handlers[lease.task.type] ?? $0.fallback }
        // Registered before the handler starts, so that however soon it finishes it is known.
        state.withLock { $0.running[lease.id] = Running(lease: lease, handler: nil) }
        let work = Task {
            let watchdog = lease.task.timeout.map { timeout in
                Task {
                    try await Task.sleep(for: timeout)
                    self.stopHandler(lease.id, because: .timedOut)
                }
            }
            let result: Result<RawJSON?, any Error>
            do {
                guard let handler else {
                    throw TaskFailure.permanent("No handler is registered for the type \(lease.task.type).")
                }
                result = .success(try await handler(context))
            } catch {
                result = .failure(error)
            }
            watchdog?.cancel()
            self.finish(lease, result: result)
        }
        let stopped = state.withLock { state in
            state.running[lease.id]?.handler = work
            return state.running[lease.id]?.stopReason != nil
        }
        if stopped { work.cancel() }
    }

    /// Hands a handler's outcome (under its stop reason) to the work loop.
    private func finish(_ lease: Lease, result: Result<RawJSON?, any Error>) {
        let (held, reason) = state.withLock { ($0.running[lease.id] != nil, $0.running[lease.id]?.stopReason) }
        // A task handed back by the grace period is no longer the pool's.
        let outcome = held ? outcome(of: result, lease: lease, stoppedBecause: reason) : nil
        state.withLock { state in
            guard state.running[lease.id] != nil else { return }
            if let outcome {
                state.unsettled.append(Unsettled(settlement: Settlement(lease.id, outcome)))
            } else {
                state.running.removeValue(forKey: lease.id)
            }
        }
        settled.notify()
        wakeup.notify()
    }

    /// What to record for a handler's result; `nil` when its lease was lost (nothing to record).
    private func outcome(
        of result: Result<RawJSON?, any Error>, lease: Lease, stoppedBecause reason: StopReason?
    ) -> TaskOutcome? {
        if reason == .leaseLost {
            logger.info("Lease lost; the outcome is dropped", metadata: ["prismq.task.id": "\(lease.id.taskID)"])
            return nil
        }
        switch result {
        case .success(let value):
            return .completed(result: value)
        case .failure(let error):
            switch reason {
            case .shutdown:
                return .released
            case .cancelRequested:
                return .failed(error: "Cancelled while running.", retryable: false)
            case .timedOut:
                let timeout = lease.task.timeout.map { "\($0)" } ?? "?"
                return .failed(error: "Timed out after \(timeout).", retryable: true)
            case .leaseLost, nil:
                let failure = error as? TaskFailure ?? TaskFailure("\(type(of: error)): \(error)")
                return .failed(error: failure.message, retryable: failure.retryable)
            }
        }
    }

    /// Cancels a running handler, remembering why (the first reason wins).
    private func stopHandler(_ lease: LeaseID, because reason: StopReason) {
        let handler = state.withLock { state -> Task<Void, Never>? in
            guard var running = state.running[lease], running.stopReason == nil else { return nil }
            running.stopReason = reason
            state.running[lease] = running
            return running.handler
        }
        handler?.cancel()
    }

    private func taskLogger(_ task: QueueTask) -> Logger {
        var logger = self.logger
        logger[metadataKey: "prismq.task.id"] = "\(task.id)"
        logger[metadataKey: "prismq.task.type"] = "\(task.type)"
        return logger
    }

    // MARK: Background work

    /// Renews the leases of running handlers every third of the lease, stops handlers whose
    /// task was cancelled or whose lease was lost, and heartbeats the registry.
    private func renewLeases() async {
        let interval = min(configuration.leaseDuration / 3, configuration.registryHeartbeat)
        var sinceHeartbeat = Duration.zero
        while !Task.isCancelled {
            if await backgroundStop.wait(timeout: interval) { return }
            sinceHeartbeat += interval
            let leases = state.withLock { $0.running.values.map(\.lease.id) }
            do {
                if !leases.isEmpty {
                    let renewals = try await queue.renew(leases, for: configuration.leaseDuration)
                    for (lease, renewal) in zip(leases, renewals) {
                        switch renewal {
                        case .lost: stopHandler(lease, because: .leaseLost)
                        case .renewed(_, cancelRequested: true): stopHandler(lease, because: .cancelRequested)
                        case .renewed: break
                        }
                    }
                }
                if sinceHeartbeat >= configuration.registryHeartbeat {
                    sinceHeartbeat = .zero
                    try await queue.workerHeartbeat(id: configuration.workerID)
                }
            } catch  where !Task.isCancelled {
                logger.warning("Lease renewal failed", metadata: ["prismq.error": "\(error)"])
            } catch {
                return
            }
        }
    }

    private func sweep(every interval: Duration) async {
        let sweeper = Sweeper(queue: queue, interval: interval, logger: logger)
        while !Task.isCancelled {
            do {
                try await sweeper.sweep()
            } catch {
                logger.warning("Sweep failed", metadata: ["prismq.error": "\(error)"])
            }
            if await backgroundStop.wait(timeout: interval) { return }
        }
    }

    /// Once the pool stops: lets running handlers finish within the grace period, then stops
    /// the rest (the work loop hands their tasks back), and hands back itself the tasks of
    /// handlers that ignore cancellation.
    private func enforceGracePeriod() async {
        while !isStopping {
            _ = await stopSignal.wait(timeout: .seconds(3600))
        }
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while runningCount > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            _ = await settled.wait(timeout: min(deadline - ContinuousClock.now, .milliseconds(100)))
        }
        let remaining = state.withLock { Array($0.running.keys) }
        for lease in remaining {
            stopHandler(lease, because: .shutdown)
        }
        // Handlers that ignore cancellation get a little longer; then their tasks are handed
        // back here, and whatever they return later is refused by the fencing token.
        let stopDeadline = ContinuousClock.now + .seconds(2)
        while runningCount > 0, ContinuousClock.now < stopDeadline {
            // A detached wait, so that a cancelled pool still gives its handlers the time.
            _ = await Task.detached { await self.settled.wait(timeout: .milliseconds(20)) }.value
        }
        let stuck = state.withLock { state -> [LeaseID] in
            let unsettled = Set(state.unsettled.map(\.settlement.lease))
            let stuck = state.running.keys.filter { !unsettled.contains($0) }
            for lease in stuck { state.running.removeValue(forKey: lease) }
            return stuck
        }
        wakeup.notify()
        for lease in stuck {
            _ = try? await Task.detached { try await self.queue.release(lease) }.value
        }
    }
}
