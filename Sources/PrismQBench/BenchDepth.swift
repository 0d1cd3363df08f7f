import Foundation
import PrismQ
import PrismQSQLite

/// How claiming scales with the ready set: single-task claims per second at a small and a
/// large number of queued tasks, for each strategy.
enum BenchDepth {
    /// The task types of the filled queue; the claiming worker names them all.
    static let types = ["a", "b", "c", "d"]

    /// Claims per second on a queue of `depth` ready tasks: one row per strategy, then the
    /// raw-SQLite FIFO claim of the same schema; each the median of `runs` runs of `claims`
    /// claims.
    static func claimRates(
        depth: Int, claims: Int, runs: Int, profile: SQLitePragmaProfile,
        progress: (String) -> Void
    ) async throws -> [(name: String, rate: Double)] {
        try await BenchCommand.withFreshStore(profile) { store in
            progress("[claim depth] filling a queue of \(depth) tasks")
            try await SQLiteBaseline.fill(store, count: depth, types: types)
            let claimers: [(String, () async throws -> Void)] =
                SchedulingStrategy.allCases.map { strategy in
                    let request = ClaimRequest(workerID: "bench", capabilities: types, strategy: strategy)
                    return (strategy.rawValue, { _ = try await store.claim(request) })
                } + [("raw FIFO claim (baseline)", { _ = try await SQLiteBaseline.claimOne(store) })]
            return try await rates(
                of: claimers, depth: depth, claims: claims, runs: runs, progress: progress,
                before: { name in
                    if name == SchedulingStrategy.weightedRandom.rawValue {
                        // Its index is built by the first weighted-random claim; not timed here.
                        try await store.prepare(for: .weightedRandom)
                    }
                },
                refill: { _ = try await store.enqueue([replacement()]) })
        }
    }

    /// The median rate of `claims` claims by each claimer over `runs` runs; `before` runs ahead
    /// of a claimer's first run, untimed. Only the claims are timed: after each, `refill`
    /// enqueues a task in place of the one claimed (untimed too), so that the queue stays
    /// `depth` deep throughout instead of draining.
    static func rates(
        of claimers: [(String, () async throws -> Void)], depth: Int, claims: Int, runs: Int,
        progress: (String) -> Void, before: (String) async throws -> Void = { _ in },
        refill: () async throws -> Void
    ) async throws -> [(name: String, rate: Double)] {
        var medians: [(name: String, rate: Double)] = []
        for (name, claimOnce) in claimers {
            try await before(name)
            var rates: [Double] = []
            for run in 1...runs {
                progress("[claim depth] \(name) at \(depth) queued, run \(run)/\(runs)")
                var elapsed = Duration.zero
                for _ in 0..<claims {
                    elapsed += try await BenchScenario.timed { try await claimOnce() }
                    try await refill()
                }
                rates.append(Double(claims) / BenchCommand.seconds(elapsed))
            }
            medians.append((name, BenchCommand.median(rates)))
        }
        return medians
    }

    /// A task in place of a claimed one: of one of ``types``, with a priority as the filled
    /// queue's.
    static func replacement() -> NewTask {
        NewTask(type: types.randomElement()!, priority: Int.random(in: 0..<10))
    }
}
