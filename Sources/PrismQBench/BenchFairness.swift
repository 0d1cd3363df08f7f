import Foundation
import PrismQ
import PrismQSQLite

/// Weighted random's fairness: the share of claims each priority class gets, against its
/// weight's share. Each claim is replaced at once by a new task of its class, so every class
/// keeps the same number of tasks queued throughout, as in a queue fed steadily. (Draining a
/// fixed set instead skews the shares towards the light classes once the heavy ones thin
/// out: the race is fair among the tasks present, per task.)
enum BenchFairness {
    /// The priorities (weights) of the classes.
    static let weights = [1, 2, 4, 8]

    /// Claims `claims` tasks one at a time from `perClass` queued tasks of each weight, each
    /// replaced by a new task of its weight.
    /// - Returns: per weight, the tasks claimed and the position of its first claim.
    static func shares(
        _ store: SQLiteStore, claims: Int, perClass: Int
    ) async throws -> [(weight: Int, claimed: Int, firstClaim: Int?)] {
        for weight in weights {
            for start in stride(from: 0, to: perClass, by: 1000) {
                let task = NewTask(type: "fair", priority: weight)
                _ = try await store.enqueue(Array(repeating: task, count: min(1000, perClass - start)))
            }
        }
        var claimed = Dictionary(uniqueKeysWithValues: weights.map { ($0, 0) })
        var first: [Int: Int] = [:]
        let request = ClaimRequest(workerID: "bench", capabilities: ["fair"], strategy: .weightedRandom)
        for index in 0..<claims {
            guard let lease = try await store.claim(request).first else { break }
            _ = try await store.enqueue([NewTask(type: "fair", priority: lease.task.priority)])
            claimed[lease.task.priority, default: 0] += 1
            if first[lease.task.priority] == nil { first[lease.task.priority] = index }
        }
        return weights.map { ($0, claimed[$0] ?? 0, first[$0]) }
    }
}
