import Foundation
import GRDB
import PrismQ
import PrismQSQLite
import Synchronization

/// Online backups under load: SQLite's backup API in steps (what `prismq backup` uses) beside
/// `VACUUM INTO`, each taken while one producer enqueues tasks one at a time.
enum BenchBackup {
    /// The two ways to copy a live queue.
    enum Method: String, CaseIterable {
        case backupAPI = "prismq backup: backup API, then the copy's integrity check"
        case vacuumInto = "VACUUM INTO (a copy, unchecked)"
    }

    /// What one backup under load measured.
    struct Sample {
        /// The whole backup, and the copy alone, in seconds.
        var seconds: Double
        var copySeconds: Double
        var megabytes: Double
        /// The producer's enqueues per second in the second before the backup, and during it.
        var rateBefore: Double
        var rateDuring: Double
        /// The producer's enqueue latency during the backup, p99 and worst, and the worst of
        /// the enqueues begun while the copy ran, in milliseconds.
        var p99: Double
        var worst: Double
        var worstDuringCopy: Double
    }

    /// Takes a backup of `store` by `method` into `directory` while a producer enqueues.
    static func measure(_ method: Method, store: SQLiteStore, directory: String) async throws -> Sample {
        let queue = TaskQueue(store: store)
        let latencies = Locked<[(start: ContinuousClock.Instant, milliseconds: Double)]>([])
        let stop = Atomic(false)
        let producer = Task {
            while !stop.load(ordering: .relaxed) {
                let start = ContinuousClock.now
                try await queue.enqueue(NewTask(type: "live"))
                let elapsed = (ContinuousClock.now - start).inSeconds * 1000
                latencies.withLock { $0.append((start, elapsed)) }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let before = latencies.withLock { samples in
            defer { samples.removeAll() }
            return samples.count
        }
        let path = directory + "/backup-\(UUID().uuidString).db"
        let start = ContinuousClock.now
        let copied = Locked<ContinuousClock.Instant?>(nil)
        switch method {
        case .backupAPI:
            _ = try await store.backup(to: path) { step in
                if step.copiedPages == step.totalPages { copied.withLock { $0 = $0 ?? .now } }
            }
        case .vacuumInto:
            let reader = try DatabaseQueue(path: store.path)
            try await reader.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [path])
            }
            try reader.close()
        }
        let end = ContinuousClock.now
        let seconds = BenchCommand.seconds(end - start)
        let copyEnd = copied.withLock { $0 } ?? end
        let copySeconds = BenchCommand.seconds(copyEnd - start)
        stop.store(true, ordering: .relaxed)
        let during = latencies.withLock { $0 }
        try await producer.value
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0
        try? FileManager.default.removeItem(atPath: path)
        return Sample(
            seconds: seconds, copySeconds: copySeconds, megabytes: bytes / 1_000_000, rateBefore: Double(before),
            rateDuring: Double(during.count) / seconds, p99: BenchLatency.percentiles(during.map(\.milliseconds))[2],
            worst: during.map(\.milliseconds).max() ?? 0,
            worstDuringCopy: during.filter { $0.start < copyEnd }.map(\.milliseconds).max() ?? 0)
    }
}
