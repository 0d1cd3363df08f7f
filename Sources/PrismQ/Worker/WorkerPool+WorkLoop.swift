import Foundation
import Logging
import Synchronization

/// The work loop: settle finished handlers and claim for free slots in one round, then
/// sleep until there is work; and the handlers it starts.
extension WorkerPool {

    /// Each round records the outcomes of finished handlers and claims tasks for the free
    /// slots in one store call (one transaction in SQLite), then starts the claimed handlers.
    /// Stops claiming when the pool stops; returns once every claimed task is settled. With a
    /// store that cannot watch for commits (see ``WorkWatch/seesCommits``), an idle pool
    /// long-polls.
    func workLoop(capabilities: [String], watch: WorkWatch) async {
        var idle = configuration.idlePoll.lowerBound
        var errorBackoff = Duration.milliseconds(50)
        var lookBackoff = Duration.milliseconds(50)
        while true {
            // Handlers that finished together settle together: let the others that are ready
            // run first, so that one write carries all their outcomes.
            await Task.yield()
            let cancelled = Task.isCancelled
            // Decided under the lock `stop()` takes: either this round sees the stop, or the
            // grace period sees its claim in flight.
            let (batch, claiming, stopping, holding) = state.withLock { state in
                defer { state.unsettled.removeAll() }
                let busy = state.running.count - state.unsettled.count
                let claiming = state.stopping || cancelled ? 0 : max(0, configuration.concurrency - busy)
                if claiming > 0 { state.claimsInFlight += 1 }
                return (state.unsettled, claiming, state.stopping, !state.running.isEmpty)
            }
            if batch.isEmpty && claiming == 0 {
                guard holding else { return }
                await waitForWakeup(timeout: stopping ? .milliseconds(20) : configuration.idlePoll.upperBound)
                continue
            }
            var request =
                claiming == 0
                ? nil
                : ClaimRequest(
                    workerID: configuration.workerID, capabilities: capabilities, strategy: strategy,
                    leaseDuration: configuration.leaseDuration, maxTasks: claiming
                )
            if !watch.seesCommits && batch.isEmpty && claiming == configuration.concurrency {
                request?.wait = Self.longPoll
            }
            let result: SettleResult
            do {
                result = try await queue.settle(batch.map(\.settlement), thenClaim: request)
            } catch {
                if claiming > 0 { claimReturned() }
                // Nothing of the round was recorded: its outcomes go back to be settled again.
                retryLater(batch, after: error)
                await waitForWakeup(timeout: errorBackoff)
                errorBackoff = min(errorBackoff * 2, .seconds(5))
                continue
            }
            errorBackoff = .milliseconds(50)
            apply(result.outcomes, of: batch)
            result.leases.forEach(start)
            if claiming > 0 { claimReturned() }
            if !result.leases.isEmpty || claiming == 0 {
                idle = configuration.idlePoll.lowerBound
                if result.leases.count == claiming { continue }
            }
            do {
                idle = try await sleepUntilWork(capabilities: capabilities, idle: idle, watch: watch)
                lookBackoff = .milliseconds(50)
            } catch {
                // The round was recorded; only the look at the ready set failed: wait (longer
                // each time it fails, whatever the writes do), then claim again.
                logger.warning("Could not look for ready tasks; retrying", metadata: ["prismq.error": "\(error)"])
                await waitForWakeup(timeout: lookBackoff)
                lookBackoff = min(lookBackoff * 2, .seconds(5))
            }
        }
    }

    /// How long an idle pool's claim waits for a task on a store that cannot watch for commits.
    static let longPoll = Duration.seconds(2)

    /// Waits for a wake-up; a cancelled pool still waits (its handlers are finishing).
    func waitForWakeup(timeout: Duration) async {
        if Task.isCancelled {
            _ = await Task.detached { await self.wakeup.wait(timeout: timeout) }.value
        } else {
            _ = await wakeup.wait(timeout: timeout)
        }
    }

    /// Sleeps (without writing) until a task is ready or a handler finished. It looks at the
    /// ready set again when `watch` wakes it (an enqueue in this process, a commit in any), when
    /// the next delayed task is due, or after the idle interval, which doubles up to the idle
    /// poll's bound. On a store that can tell neither, it claims again after each sleep.
    /// - Returns: the next idle interval.
    func sleepUntilWork(capabilities: [String], idle: Duration, watch: WorkWatch) async throws -> Duration {
        var idle = idle
        while !isStopping {
            let look = try await watch.look(at: [capabilities])
            if !look.ready.isEmpty { return configuration.idlePoll.lowerBound }
            let sleep = min(idle, look.due ?? idle)
            idle = min(idle * 2, configuration.idlePoll.upperBound)
            // A task enqueued here is likely ready (a delayed one costs an empty claim), and a
            // finished handler wants settling: go now. A commit elsewhere may be anything: look.
            if await watch.sleep(sleep), wakeup.takeEnqueued() || state.withLock({ !$0.unsettled.isEmpty }) {
                return configuration.idlePoll.lowerBound
            }
            if look.due == nil && !watch.seesCommits { return idle }
        }
        return idle
    }

    /// Takes in a round's outcomes: settled tasks leave the pool; a result that cannot be stored
    /// fails its task for good in the next round instead.
    func apply(_ outcomes: [Result<QueueTask, QueueError>], of batch: [Unsettled]) {
        var retry: [Unsettled] = []
        for (item, outcome) in zip(batch, outcomes) {
            let lease = item.settlement.lease
            if case .failure(let error) = outcome {
                // Only a result beyond the limits gets these: it can never be stored.
                if case .completed = item.settlement.outcome,
                    error.code == .payloadTooLarge || error.code == .invalidArgument
                {
                    let message = "The handler's result cannot be stored: \(error)"
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

    /// A round's claim came back, its leases (if any) now running: the grace period no longer
    /// waits for it.
    func claimReturned() {
        state.withLock { $0.claimsInFlight -= 1 }
        settled.notify()
    }

    /// Keeps a failed round's outcomes for the next round (their leases are still renewed),
    /// giving up on one after 8 failed writes: its lease then expires and the task runs again.
    func retryLater(_ batch: [Unsettled], after error: any Error) {
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

    func start(_ lease: Lease) {
        let context = TaskContext(task: lease.task, lease: lease.id, logger: taskLogger(lease.task))
        let handler = state.withLock { $0.handlers[lease.task.type] ?? $0.fallback }
        // Registered before the handler starts, so that however soon it finishes it is known.
        // A late claim's task, once the grace period is over, is stopped as soon as it starts.
        state.withLock {
            $0.running[lease.id] = Running(lease: lease, handler: nil, stopReason: $0.graceOver ? .shutdown : nil)
        }
        let work = Task {
            let watchdog = lease.task.timeout.map { timeout in
                Task {
                    try await self.configuration.clock.sleep(for: timeout)
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
    func finish(_ lease: Lease, result: Result<RawJSON?, any Error>) {
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
    func outcome(
        of result: Result<RawJSON?, any Error>, lease: Lease, stoppedBecause reason: StopReason?
    ) -> TaskOutcome? {
        if reason == .leaseLost {
            logger.info(
                "Lease lost; the outcome is dropped",
                metadata: ["prismq.task.id": "\(lease.id.taskID)", "prismq.task.type": "\(lease.task.type)"])
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
    func stopHandler(_ lease: LeaseID, because reason: StopReason) {
        let handler = state.withLock { state -> Task<Void, Never>? in
            guard var running = state.running[lease], running.stopReason == nil else { return nil }
            running.stopReason = reason
            state.running[lease] = running
            return running.handler
        }
        handler?.cancel()
    }

    func taskLogger(_ task: QueueTask) -> Logger {
        var logger = self.logger
        logger[metadataKey: "prismq.task.id"] = "\(task.id)"
        logger[metadataKey: "prismq.task.type"] = "\(task.type)"
        return logger
    }
}
