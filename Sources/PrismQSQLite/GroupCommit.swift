import GRDB
import PrismQ
import Synchronization

/// Group commit: concurrent writes of this process share one `IMMEDIATE` transaction.
///
/// A write waits while another batch commits; the next batch then takes every write that
/// arrived meanwhile (at most ``maxBatch``). An idle store adds no latency: the first write
/// starts a batch at once. Each write runs in its own savepoint, so one that fails rolls back
/// alone and fails only its caller; each caller resumes only after the commit that holds its
/// write, so the durability of the PRAGMA profile is unchanged.
final class GroupCommit: Sendable {
    /// One caller's write: runs inside the batch's transaction, then learns how the commit went.
    private struct Job: Sendable {
        /// Runs the write, in a savepoint when asked; returns whether it succeeded.
        let run: @Sendable (Database, _ inSavepoint: Bool) -> Bool
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Job] = []
        var draining = false
        var transactions = 0
    }

    /// The most writes one transaction holds.
    static let maxBatch = 256

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// How many transactions committed so far (each holding one or more writes).
    var transactions: Int { state.withLock { $0.transactions } }

    /// Runs `body` in a savepoint of the next batch and returns its result after the commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
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
            let startsDrain = state.withLock { state in
                state.pending.append(job)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startsDrain {
                Task.detached { await self.drain() }
            }
        }
    }

    /// Commits batches until no write is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Job] in
                let batch = Array(state.pending.prefix(Self.maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await pool.write { db in
                    if batch.count == 1 {
                        // Alone, a write needs no savepoint (which costs a copy of every page it
                        // touches): if it fails, the whole transaction rolls back instead.
                        if !batch[0].run(db, false) { throw RolledBack() }
                    } else {
                        for job in batch { _ = job.run(db, true) }
                    }
                }
                state.withLock { $0.transactions += 1 }
                for job in batch { job.finish(nil) }
            } catch is RolledBack {
                batch[0].finish(nil)
            } catch {
                for job in batch { job.finish(error) }
            }
        }
    }
}

/// Rolls back a transaction whose only write failed; that write's caller gets its own error.
private struct RolledBack: Error {}
