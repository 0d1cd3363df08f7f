import ArgumentParser
import Foundation
import Logging
import PrismQ
import PrismQClient
import ServiceLifecycle
import UnixSignals

/// `prismq-chaos pool-worker`: an in-process `WorkerPool` on the queue, one of the run's
/// victims. Each handler run appends its effect line before it returns.
struct ChaosPoolWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool-worker", abstract: "A worker pool in this process (started by run).")

    @Option var db: String
    @Option var effects: String
    @Option var lease: Double = 2

    func run() async throws {
        let queue = try await ChaosStore.open(db)
        let log = try AppendLog(path: effects)
        var configuration = WorkerPoolConfiguration()
        configuration.concurrency = 4
        configuration.leaseDuration = .milliseconds(Int64(lease * 1000))
        configuration.sweepInterval = .seconds(1)
        configuration.shutdownGracePeriod = .seconds(1)
        let logger = Logger(label: "prismq.chaos.pool")
        let pool = WorkerPool(queue: queue, configuration: configuration, logger: logger)
        pool.register(ChaosTask.type) { context in
            if ChaosTask.isPoison(context.task.payload.text) { throw TaskFailure("poison", retryable: false) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
            log.append("\(context.task.id) \(context.attempt) pool")
            return nil
        }
        let group = ServiceGroup(services: [pool], gracefulShutdownSignals: [.sigterm], logger: logger)
        try await group.run()
    }
}

/// `prismq-chaos produce`: enqueues tasks through the server for `--duration` seconds, each
/// with an idempotency key, retrying one until the server acknowledges it, and appends each
/// acknowledgement (task id, sequence number) to `--acks`.
struct ChaosProducer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Enqueue tasks through the server (started by run).")

    @Option var server: String
    @Option var acks: String
    @Option var duration: Double
    @Option var rate: Double = 40
    @Option(name: .customLong("max-attempts")) var maxAttempts = 20
    @Option(name: .customLong("key-prefix")) var keyPrefix = "chaos"

    func run() async throws {
        let queue = TaskQueue(store: try RemoteStore(url: server))
        let log = try AppendLog(path: acks)
        let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
        var sequence = 0
        while ContinuousClock.now < deadline {
            let task = NewTask(
                type: ChaosTask.type, payload: try RawJSON(validating: ChaosTask.payload(sequence)),
                maxAttempts: maxAttempts, idempotencyKey: "\(keyPrefix)-\(sequence)")
            var failingSince: ContinuousClock.Instant?
            while true {
                do {
                    let result = try await queue.enqueue(task)
                    log.append("\(result.task.id) \(sequence)")
                    break
                } catch {
                    // The server is down or busy: the same key again, until it answers (a
                    // server that refuses for a minute on end is not coming back).
                    let since = failingSince ?? .now
                    guard ContinuousClock.now - since < .seconds(60) else { throw error }
                    failingSince = since
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            sequence += 1
            try await Task.sleep(for: .milliseconds(Int64(1000 / rate)))
        }
    }
}
