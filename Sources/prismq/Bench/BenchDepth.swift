import Foundation
import PrismQ
import PrismQSQLite

/// How claiming scales with the ready set: single-task claims per second at a small and a
/// large number of queued tasks, for each strategy.
enum BenchDepth {
    /// The task types of the filled queue; the claiming worker names them all.
    static let types = ["a", "b", "c", "d"]

    /// Claims per second for each strategy (in `SchedulingStrategy.allCases` order): the
    /// median of `runs` runs of `claims` claims on a queue of `depth` ready tasks.
    static func claimRates(
        depth: Int, claims: Int, runs: Int, profile: SQLitePragmaProfile,
        progress: (String) -> Void
    ) async throws -> [Double] {
        try await BenchCommand.withFreshStore(profile) { store in
            progress("[claim depth] filling a queue of \(depth) tasks")
            try await SQLiteBaseline.fill(store, count: depth, types: types)
            var medians: [Double] = []
            for strategy in SchedulingStrategy.allCases {
                var rates: [Double] = []
                for run in 1...runs {
                    progress("[claim depth] \(strategy.rawValue) at \(depth) queued, run \(run)/\(runs)")
                    let request = ClaimRequest(workerID: "bench", capabilities: types, strategy: strategy)
                    let elapsed = try await BenchScenario.timed {
                        for _ in 0..<claims { _ = try await store.claim(request) }
                    }
                    rates.append(Double(claims) / BenchCommand.seconds(elapsed))
                }
                medians.append(rates.sorted()[rates.count / 2])
            }
            return medians
        }
    }
}
