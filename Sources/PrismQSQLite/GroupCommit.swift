import Dispatch
import Foundation
import GRDB
import PrismQ
import Synchronization

/// Group commit: concurrent writes of this process share one `IMMEDIATE` transaction.
///
/// One writer thread owns the write side: it takes every write waiting (at most
/// ``maxBatch``), runs them in one transaction, resumes their callers after the commit, and
/// goes on while more are waiting; it sleeps only when none are. So an idle store adds no
/// latency, and a busy one commits back to back with no hop between threads but the caller's.
/// A write that fails rolls back alone and fails only its caller (the batch runs again with a
/// savepoint per write); a failure of the transaction itself (a `BEGIN` busy past the timeout,
/// a failed `COMMIT`) fails every write of it, none of which committed. Each caller resumes
/// only after the commit that holds its write, so the durability of the PRAGMA profile is
/// unchanged.
final class GroupCommit: Sendable {
    /// One caller's write: runs inside the batch's transaction, then learns how the commit went.
    fileprivate struct Job: Sendable {
        /// Runs the write, in a savepoint when asked; returns whether it succeeded.
        let run: @Sendable (Database, _ inSavepoint: Bool) -> Bool
        let finish: @Sendable ((any Error)?) -> Void
    }

    fileprivate struct State {
        var pending: [Job] = []
        var writerSleeps = false
        /// The writer waits (briefly) until this many writes are pending; 0 when it does not.
        var gatheringUntil = 0
        var closed = false
        var writerRunning = true
        var transactions = 0
    }

    /// What the writer thread shares with the callers; it outlives the ``GroupCommit`` until
    /// the thread has finished the last write.
    fileprivate final class Shared: Sendable {
        let pool: DatabasePool
        let checkpointer: Checkpointer?
        let file: FileIdentity?
        let state = Locked(State())
        let wakeWriter = DispatchSemaphore(value: 0)

        init(pool: DatabasePool, checkpointer: Checkpointer?, file: FileIdentity?) {
            self.pool = pool
            self.checkpointer = checkpointer
            self.file = file
        }
    }

    /// The most writes one transaction holds.
    static let maxBatch = 256

    private let shared: Shared

    /// Group commit on `pool`'s writer, whose checkpoints `checkpointer` takes over (see
    /// ``Checkpointer``) while the writer thread runs. Every commit first checks that the path
    /// still names `file` (see ``FileIdentity``): if not, the batch fails and nothing commits.
    init(pool: DatabasePool, checkpointer: Checkpointer?, file: FileIdentity? = nil) {
        shared = Shared(pool: pool, checkpointer: checkpointer, file: file)
        if let checkpointer {
            try? pool.writeWithoutTransaction { db in checkpointer.install(on: db) }
        }
        let shared = shared
        let thread = Thread { Self.writerLoop(shared) }
        thread.name = "prismq.group-commit"
        thread.start()
    }

    deinit {
        let wake = shared.state.withLock { state in
            state.closed = true
            defer { state.writerSleeps = false }
            return state.writerSleeps
        }
        if wake { shared.wakeWriter.signal() }
    }

    /// A view of the threads that outlives the group commit (for tests: they end once the
    /// store is released).
    struct Threads: Sendable {
        private let shared: Shared

        fileprivate init(_ shared: Shared) {
            self.shared = shared
        }

        /// Whether the writer thread still runs.
        var writerRunning: Bool { shared.state.withLock { $0.writerRunning } }
        /// Whether the checkpointer's thread still runs.
        var checkpointerRunning: Bool { shared.checkpointer?.running ?? false }
    }

    /// The group commit's threads, watched from outside.
    var threads: Threads { Threads(shared) }

    /// How many checkpoints the ``Checkpointer`` ran so far.
    var backgroundCheckpoints: Int { shared.checkpointer?.checkpoints ?? 0 }

    /// How many transactions committed so far (each holding one or more writes).
    var transactions: Int { shared.state.withLock { $0.transactions } }

    /// Runs `body` in a savepoint of the next batch and returns its result after the commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Locked<Result<T, any Error>?>(nil)
            let job = Job(
                run: { db, inSavepoint in
                    do {
                        var value: T?
                        if inSavepoint {
                            try db.inSavepoint {
                                value = try body(db)
                                return .commit
                            }
                        } else {
                            value = try body(db)
                        }
                        outcome.withLock { $0 = .success(value!) }
                        return true
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        return false
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0! })
                    }
                }
            )
            let wake = shared.state.withLock { state in
                state.pending.append(job)
                let gathered = state.gatheringUntil > 0 && state.pending.count >= state.gatheringUntil
                defer {
                    state.writerSleeps = false
                    if gathered { state.gatheringUntil = 0 }
                }
                return state.writerSleeps || gathered
            }
            if wake { shared.wakeWriter.signal() }
        }
    }

    /// The writer thread: commits batches while writes wait, sleeps while none do, and ends
    /// once the store is gone and nothing is left.
    private static func writerLoop(_ shared: Shared) {
        var lastBatch = 0
        while true {
            gather(upTo: lastBatch, shared: shared)
            let batch = shared.state.withLock { state -> [Job]? in
                let batch = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty {
                    if state.closed { return nil }
                    state.writerSleeps = true
                }
                return batch
            }
            guard let batch else {
                if let checkpointer = shared.checkpointer {
                    try? shared.pool.writeWithoutTransaction { db in checkpointer.uninstall(from: db) }
                }
                shared.state.withLock { $0.writerRunning = false }
                return
            }
            if batch.isEmpty {
                shared.wakeWriter.wait()
                continue
            }
            commit(batch, shared: shared)
            lastBatch = batch.count
        }
    }

    /// The longest the writer waits for a batch to fill.
    static let gatherWindow = DispatchTimeInterval.microseconds(100)

    /// After a batch of several writes, waits up to ``gatherWindow`` until as many are pending
    /// again: the callers it just resumed are likely coming back, and one transaction for all
    /// of them costs less than several. After a single write it does not wait, so an idle or
    /// sequential caller sees no delay.
    private static func gather(upTo count: Int, shared: Shared) {
        guard count > 1 else { return }
        let waits = shared.state.withLock { state in
            guard state.pending.count < count, !state.closed else { return false }
            state.gatheringUntil = count
            return true
        }
        guard waits else { return }
        _ = shared.wakeWriter.wait(timeout: .now() + gatherWindow)
        shared.state.withLock { $0.gatheringUntil = 0 }
    }

    /// Commits a batch optimistically without savepoints (each copies every page it touches);
    /// when a write fails, that transaction rolls back and the batch runs again with one
    /// savepoint per write, so only the failing writes fail.
    private static func commit(_ batch: [Job], shared: Shared) {
        do {
            try shared.pool.write { db in
                for job in batch {
                    if !job.run(db, false) { throw RolledBack() }
                }
                try shared.file?.verify()
            }
            shared.state.withLock { $0.transactions += 1 }
            for job in batch { job.finish(nil) }
        } catch is RolledBack {
            if batch.count == 1 {
                batch[0].finish(nil)
            } else {
                commitInSavepoints(batch, shared: shared)
            }
        } catch {
            for job in batch { job.finish(error) }
        }
    }

    private static func commitInSavepoints(_ batch: [Job], shared: Shared) {
        do {
            try shared.pool.write { db in
                for job in batch { _ = job.run(db, true) }
                try shared.file?.verify()
            }
            shared.state.withLock { $0.transactions += 1 }
            for job in batch { job.finish(nil) }
        } catch {
            for job in batch { job.finish(error) }
        }
    }
}

/// Rolls back a transaction in which a write failed; that write's caller gets its own error.
private struct RolledBack: Error {}
