import Foundation
import GRDB
import PrismQ
import Synchronization

/// Tells subscribers that some connection (another process's too) committed to the database.
///
/// A thread of its own polls `PRAGMA data_version` on a connection of its own (a few
/// microseconds, no disk read): every millisecond while commits keep coming, doubling up to
/// ``idleInterval`` once none came for ``quietSpell``. The thread runs only while someone
/// subscribes.
final class CommitWatcher: Sendable {
    private struct State {
        var subscribers: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
        var watching = false
    }

    /// The poll interval while commits keep coming.
    static let busyInterval = Duration.milliseconds(1)
    /// The longest poll interval, when the database is quiet.
    static let idleInterval = Duration.milliseconds(50)
    /// How long without a commit before the poll slows down.
    static let quietSpell = Duration.milliseconds(100)

    private let path: String
    private let state = Locked(State())
    private let connection = Locked<DatabaseQueue?>(nil)

    init(path: String) {
        self.path = path
    }

    /// Whether the watcher's thread runs (it ends soon after the last subscription does).
    var watching: Bool { state.withLock { $0.watching } }

    /// Calls `onCommit` on the watcher's thread after each commit it sees, until cancelled;
    /// every commit after this returns is seen.
    func subscribe(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch {
        let (id, start) = state.withLock { state in
            state.nextID += 1
            state.subscribers[state.nextID] = onCommit
            defer { state.watching = true }
            return (state.nextID, !state.watching)
        }
        if start {
            // The first reading is taken here, so no commit after the subscription is missed.
            let connection = readConnection()
            let version = connection.flatMap(Self.dataVersion)
            let thread = Thread { self.watch(connection, from: version) }
            thread.name = "prismq.commit-watcher"
            thread.start()
        }
        return CommitWatch { [self] in
            _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
    }

    /// The watcher's read-only connection: opened by the first subscription, then kept (a
    /// long-poll claim subscribes on every wait; it should not open a file each time).
    private func readConnection() -> DatabaseQueue? {
        connection.withLock { connection in
            if connection == nil {
                var configuration = Configuration()
                configuration.readonly = true
                configuration.label = "prismq.commit-watcher"
                connection = try? DatabaseQueue(path: path, configuration: configuration)
            }
            return connection
        }
    }

    private func watch(_ connection: DatabaseQueue?, from version: Int?) {
        var last = version
        var lastCommit = ContinuousClock.now
        var interval = Self.busyInterval
        while true {
            Thread.sleep(forTimeInterval: interval.inSeconds)
            let subscribers = state.withLock { state -> [@Sendable () -> Void]? in
                if state.subscribers.isEmpty {
                    state.watching = false
                    return nil
                }
                return Array(state.subscribers.values)
            }
            guard let subscribers else { return }
            let version = connection.flatMap(Self.dataVersion)
            if version != last || version == nil {
                // A connection that cannot read calls every time: subscribers then poll.
                last = version
                lastCommit = .now
                interval = Self.busyInterval
                for subscriber in subscribers { subscriber() }
            } else if ContinuousClock.now - lastCommit > Self.quietSpell {
                interval = min(interval * 2, Self.idleInterval)
            }
        }
    }

    private static func dataVersion(_ connection: DatabaseQueue) -> Int? {
        try? connection.inDatabase { db in try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) }
    }
}
