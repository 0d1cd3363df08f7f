import PrismQ
import Synchronization

/// Back-pressure on the store's writer: at most ``limit`` writes of this server (enqueue,
/// claim, heartbeat, complete, fail, release, settle, cancel, retry) wait for the store at
/// once; one more is refused with `busy` (HTTP `503` with `Retry-After`) at once, before it
/// reaches the store, instead of joining a queue that grows while the writer is saturated
/// (another process holding the write lock, a slow disk, more load than it commits).
///
/// A request holds its place only while its store call runs: not while its body arrives, not
/// while a long-poll claim waits for work, and a woken long-poll claim's attempt takes none
/// (``ClaimWaitRoom`` bounds those).
final class WriteGate: Sendable {
    /// The most writes that may wait for the store at once.
    let limit: Int
    private let inFlight = Atomic(0)
    private let refusedCount = Atomic(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// How many writes wait for the store now.
    var pending: Int { inFlight.load(ordering: .relaxed) }
    /// How many writes were refused since the server started.
    var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// Takes a place for one write, if fewer than ``limit`` writes wait; give it back with
    /// ``leave()`` once the write is done (`defer`).
    ///
    /// - Throws: `busy` when ``limit`` writes already wait (no place is taken).
    func enter() throws(QueueError) {
        var current = inFlight.load(ordering: .relaxed)
        while true {
            guard current < limit else {
                refusedCount.wrappingAdd(1, ordering: .relaxed)
                throw QueueError(
                    .busy, "The queue's writer is saturated (\(limit) writes are waiting); try again shortly.")
            }
            let (exchanged, original) = inFlight.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Gives back the place ``enter()`` took.
    func leave() {
        inFlight.wrappingSubtract(1, ordering: .relaxed)
    }
}
