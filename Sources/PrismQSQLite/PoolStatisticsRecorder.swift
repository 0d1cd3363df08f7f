import PrismQ
import Synchronization

/// Counts a pool's reads, writes, waits and errors, and what runs and waits now; cheap enough
/// for every operation.
final class PoolStatisticsRecorder: Sendable {
    private struct Counters {
        var activeReads = 0
        var activeWrites = 0
        /// The most reads that ran at once: the reader connections the pool opened (it keeps them).
        var peakReads = 0
        var reads = 0
        var writes = 0
        var waits = 0
        var errors = 0
    }

    private let counters = Locked(Counters())
    private let maxReaders: Int

    init(maxReaders: Int) {
        self.maxReaders = maxReaders
    }

    /// Records the start of a read; a read that finds every reader busy counts as a wait.
    func beginRead() {
        counters.withLock { counters in
            if counters.activeReads >= maxReaders { counters.waits += 1 }
            counters.activeReads += 1
            counters.peakReads = max(counters.peakReads, counters.activeReads)
            counters.reads += 1
        }
    }

    /// Records the start of a read only when a reader is surely free (fewer reads than readers
    /// are counted, and each counted read holds at most one reader): `false` otherwise.
    func beginReadWithoutWaiting() -> Bool {
        counters.withLock { counters in
            guard counters.activeReads < maxReaders else { return false }
            counters.activeReads += 1
            counters.peakReads = max(counters.peakReads, counters.activeReads)
            counters.reads += 1
            return true
        }
    }

    func endRead() {
        counters.withLock { $0.activeReads -= 1 }
    }

    /// Records the start of a write; a write behind another one of this process counts as a wait.
    func beginWrite() {
        counters.withLock { counters in
            if counters.activeWrites >= 1 { counters.waits += 1 }
            counters.activeWrites += 1
            counters.writes += 1
        }
    }

    func endWrite() {
        counters.withLock { $0.activeWrites -= 1 }
    }

    func recordError() {
        counters.withLock { $0.errors += 1 }
    }

    var snapshot: StoreStatistics {
        counters.withLock { counters in
            StoreStatistics(
                readConnections: maxReaders, writeConnections: 1, reads: counters.reads,
                writes: counters.writes, waits: counters.waits, errors: counters.errors,
                openConnections: 1 + min(counters.peakReads, maxReaders),
                inUse: min(counters.activeReads, maxReaders) + min(counters.activeWrites, 1),
                waiting: max(0, counters.activeReads - maxReaders) + max(0, counters.activeWrites - 1)
            )
        }
    }
}
