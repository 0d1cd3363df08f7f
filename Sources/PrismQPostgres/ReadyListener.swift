import Logging
import PostgresNIO
import PrismQ
import Synchronization

/// Tells subscribers, on any host, that a task became ready: `LISTEN` on the queue's channel,
/// on a connection of its own that is open only while someone subscribes, and reopened after a
/// failure. The store sends `pg_notify` when tasks become ready: after an enqueue or a retry
/// commits, and in the statement of a requeue.
///
/// A notification sent while no `LISTEN` is in place (before the first connection is up, or
/// while it is down) is not delivered; so subscribers are called once each time `LISTEN` is in
/// place, and the loops that subscribe also poll (every 250 ms at most) as a backstop.
final class ReadyListener: Sendable {
    private struct State {
        var subscribers: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
        var listening: Task<Void, Never>?
        var connected = false
    }

    /// The channel: `prismq_` and the schema.
    let channel: String
    private let connect: @Sendable () async throws -> PostgresConnection
    private let logger: Logger
    private let state = Locked(State())

    init(channel: String, logger: Logger, connect: @escaping @Sendable () async throws -> PostgresConnection) {
        self.channel = channel
        self.connect = connect
        self.logger = logger
    }

    /// Calls `onReady` after each notification until cancelled.
    func subscribe(_ onReady: @escaping @Sendable () -> Void) -> CommitWatch {
        let id = state.withLock { state in
            state.nextID += 1
            state.subscribers[state.nextID] = onReady
            if state.listening == nil {
                state.listening = Task { await self.listen() }
            }
            return state.nextID
        }
        return CommitWatch { [self] in
            let stop = state.withLock { state -> Task<Void, Never>? in
                state.subscribers.removeValue(forKey: id)
                guard state.subscribers.isEmpty else { return nil }
                defer { state.listening = nil }
                return state.listening
            }
            stop?.cancel()
        }
    }

    /// Whether it is listening now (a connection is open and `LISTEN` done).
    var isListening: Bool { state.withLock { $0.connected } }

    private func notifyAll() {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber() }
    }

    /// Listens until cancelled, reconnecting with a growing pause after each failure.
    private func listen() async {
        var pause = Duration.milliseconds(50)
        while !Task.isCancelled {
            do {
                let connection = try await connect()
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: channel) { notifications in
                            pause = .milliseconds(50)
                            // Whatever became ready before this LISTEN: since the subscribers
                            // subscribed, or while the connection was down.
                            notifyAll()
                            state.withLock { $0.connected = true }
                            defer { state.withLock { $0.connected = false } }
                            for try await _ in notifications { notifyAll() }
                        }
                    } onCancel: {
                        connection.close().whenComplete { _ in }
                    }
                } catch {
                    // A connection must be closed before it goes, even a broken one.
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch  where !Task.isCancelled {
                logger.debug("Listening for ready tasks failed; retrying", metadata: ["prismq.error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            } catch {
                return
            }
        }
    }

    /// Stops listening for good: subscribers are dropped and the connection closed.
    func stop() {
        let listening = state.withLock { state in
            state.subscribers.removeAll()
            defer { state.listening = nil }
            return state.listening
        }
        listening?.cancel()
    }
}
