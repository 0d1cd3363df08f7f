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

    struct State: Sendable {
        var handlers: [String: Handler] = [:]
        var fallback: Handler?
        var strategy: SchedulingStrategy
        /// Claimed tasks whose outcome is not yet recorded (running or unsettled).
        var running: [LeaseID: Running] = [:]
        var unsettled: [Unsettled] = []
        var stopping = false
        /// Rounds whose claim is in the store: their leases are not in ``running`` yet, and
        /// the grace period must wait for them (a stop can come while the claim commits).
        var claimsInFlight = 0
        /// The grace period has ended: a handler that starts now is stopped at once.
        var graceOver = false
    }

    /// The queue the pool serves.
    public let queue: TaskQueue
    /// The pool's settings (its strategy may since have changed: see ``strategy``).
    public let configuration: WorkerPoolConfiguration
    let logger: Logger
    let state: Locked<State>
    let wakeup: WakeupSignal
    let stopSignal: WakeupSignal
    let settled: WakeupSignal
    let backgroundStop: WakeupSignal

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
        self.state = Locked(State(strategy: configuration.strategy))
        wakeup = WakeupSignal(clock: configuration.clock)
        stopSignal = WakeupSignal(clock: configuration.clock)
        settled = WakeupSignal(clock: configuration.clock)
        backgroundStop = WakeupSignal(clock: configuration.clock)
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
        let watch = WorkWatch(queue: queue, signal: wakeup)
        defer { watch.close() }
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
                    await self.workLoop(capabilities: hasFallback ? [] : capabilities, watch: watch)
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

    var isStopping: Bool {
        state.withLock { $0.stopping } || Task.isCancelled
    }
}
