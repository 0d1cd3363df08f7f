import NIOCore
import PostgresNIO
import PrismQ
import Synchronization

/// Ends the calls running on a pooled connection when that connection closes.
///
/// postgres-nio 1.33.2 can lose a statement written to a connection that the server has just
/// ended (a restart, `pg_terminate_backend`): the write reaches the channel after its handlers
/// are gone, and the statement's answer never comes, so the call would wait for ever. By the time
/// a connection's `closeFuture` completes, every statement the connection did see has failed or
/// answered, so a call still running a little later (``grace``: time for an answer already read
/// to reach the call) is one of the lost ones: the guard fails it with ``ConnectionLost``. A lost
/// statement's task stays behind, waiting; the call does not.
///
/// The guard watches each connection once, not once per call, so a long-lived connection does not
/// gather callbacks.
final class ClosedConnectionGuard: Sendable {
    /// A call's connection closed before the call ended.
    struct ConnectionLost: Error {}

    private struct Calls {
        var next = 0
        /// The running calls' failure actions, by connection and call.
        var running: [ObjectIdentifier: [Int: @Sendable () -> Void]] = [:]
    }

    private let calls = Locked(Calls())
    /// How long after a connection closed its calls still running are failed.
    static let grace = TimeAmount.milliseconds(500)

    /// The connections that ran a call and have not closed since.
    var openConnections: Int { calls.withLock { $0.running.count } }

    /// Runs `body` on `connection`, failing with ``ConnectionLost`` if the connection closes first.
    func run<T: Sendable>(
        on connection: PostgresConnection, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let promise = connection.eventLoop.makePromise(of: T.self)
        let key = ObjectIdentifier(connection)
        let (call, firstOnConnection) = calls.withLock { calls in
            calls.next += 1
            let first = calls.running[key] == nil
            calls.running[key, default: [:]][calls.next] = { promise.fail(ConnectionLost()) }
            return (calls.next, first)
        }
        // Runs at once when the connection already closed; a later call then watches afresh.
        if firstOnConnection {
            let eventLoop = connection.eventLoop
            connection.closeFuture.whenComplete { [self] _ in
                eventLoop.scheduleTask(in: Self.grace) { self.closed(key) }
            }
        }
        defer { _ = calls.withLock { $0.running[key]?.removeValue(forKey: call) } }
        promise.completeWithTask(body)
        return try await promise.futureResult.get()
    }

    /// Fails every call still running on the connection, and forgets it.
    private func closed(_ key: ObjectIdentifier) {
        let failing = calls.withLock { $0.running.removeValue(forKey: key) } ?? [:]
        for fail in failing.values { fail() }
    }
}
