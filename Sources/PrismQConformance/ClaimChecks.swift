import Foundation
import PrismQ

/// Claims: each strategy's order, capabilities, delays, and what a claim records.
enum ClaimChecks {
    static let all: [ConformanceCheck] =
        [
            ConformanceCheck("fifoLifoAndPriorityClaimInTheirOrder", strategiesClaimInOrder),
            ConformanceCheck("delayedTasksWaitForTheirTime", delayedTasksWait),
            ConformanceCheck("aClaimSetsTheLeaseCountsTheAttemptAndRegistersTheWorker", aClaimSetsTheLease),
            ConformanceCheck("aClaimTakesAtMostMaxTasksAndNeverOneTaskTwice", claimsNeverOverlap),
            ConformanceCheck("weightedRandomSharesFollowTheWeightsAndNoClassStarves", weightedRandomShares),
        ]
        + SchedulingStrategy.allCases.map { strategy in
            ConformanceCheck("capabilitiesLimitClaimsToTheNamedTypes(\(strategy.rawValue))") { h in
                try await capabilitiesLimitClaims(h, strategy: strategy)
            }
        }

    static func strategiesClaimInOrder(_ h: StoreHarness) async throws {
        let ids = try await h.enqueue(priorities: [0, 5, 5, -3, 10])
        var order: [Int64] = []
        for _ in ids {
            let lease = try require(try await h.claim(.priority).first)
            order.append(lease.task.id)
            _ = try await h.queue.complete(lease.id, result: nil)
        }
        try expect(order == [ids[4], ids[1], ids[2], ids[0], ids[3]], "priority: highest first, then oldest")
        try expect(try await h.claim(.fifo).isEmpty)

        // FIFO and LIFO go by time alone: priorities that differ change nothing.
        let fresh = try await h.enqueue(priorities: [0, 9, -5, 9, 3])
        try expect(try await h.claim(.fifo).map(\.task.id) == [fresh[0]], "fifo: oldest first, whatever the priority")
        try expect(try await h.claim(.lifo).map(\.task.id) == [fresh[4]], "lifo: newest first, whatever the priority")
        try expect(try await h.claim(.lifo, max: 2).map(\.task.id) == [fresh[3], fresh[2]])
        try expect(try await h.claim(.fifo, max: 5).map(\.task.id) == [fresh[1]])

        // The same across named types, whose candidates the claim merges.
        var typed: [Int64] = []
        for (type, priority) in [("a", 0), ("b", 9), ("a", 5), ("b", -2)] {
            typed += try await h.enqueue(priorities: [priority], type: type)
        }
        try expect(try await h.claim(.fifo, types: ["a", "b"], max: 2).map(\.task.id) == [typed[0], typed[1]])
        try expect(try await h.claim(.lifo, types: ["a", "b"], max: 2).map(\.task.id) == [typed[3], typed[2]])
    }

    static func delayedTasksWait(_ h: StoreHarness) async throws {
        let later = try await h.queue.enqueue(NewTask(type: "t", delay: .seconds(5))).task
        for strategy in SchedulingStrategy.allCases {
            try expect(try await h.claim(strategy).isEmpty, "\(strategy) claims a delayed task early")
        }
        try expect(try await h.queue.timeUntilReady(capabilities: []) == .seconds(5))
        try expect(try await h.queue.timeUntilReady(capabilities: ["other"]) == nil)
        h.clock.advance(by: .seconds(5))
        try expect(try await h.queue.timeUntilReady(capabilities: ["t"]) == .zero)
        try expect(try await h.claim(.weightedRandom).map(\.task.id) == [later.id])
        try expect(try await h.queue.timeUntilReady(capabilities: []) == nil, "nothing is queued any more")
    }

    static func aClaimSetsTheLease(_ h: StoreHarness) async throws {
        _ = try await h.queue.enqueue(NewTask(type: "t", maxAttempts: 3))
        let lease = try require(try await h.claim(worker: "w7", lease: .seconds(30)).first)
        try expect(lease.task.status == .running && lease.task.attempts == 1)
        try expect(lease.task.claimedBy == "w7" && lease.task.claimedAt == h.clock.now())
        try expect(
            lease.expiresAt == h.clock.now().addingTimeInterval(30) && lease.task.leaseExpiresAt == lease.expiresAt)
        try expect(lease.task.leaseToken == lease.id.token)
        try expect(lease.task.leaseDuration == .seconds(30), "the claim's lease length is kept with the task")
        try expect(try await h.queue.task(id: lease.task.id) == lease.task, "the lease's task is the stored one")
        try expect(try await h.queue.logs(taskID: lease.task.id).map(\.event) == [.enqueued, .claimed])
        let workers = try await h.queue.workers()
        try expect(workers.map(\.id) == ["w7"] && workers[0].currentTasks == 1 && workers[0].state == .active)
    }

    static func claimsNeverOverlap(_ h: StoreHarness) async throws {
        _ = try await h.queue.enqueue(batch: (0..<40).map { NewTask(type: "t", priority: $0 % 4) })
        let queue = h.queue
        let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for (n, strategy) in SchedulingStrategy.allCases.enumerated() {
                for worker in 0..<2 {
                    group.addTask {
                        var ids: [Int64] = []
                        while true {
                            let leases = try await queue.claim(
                                ClaimRequest(workerID: "w\(n)-\(worker)", strategy: strategy, maxTasks: 3))
                            if leases.isEmpty { return ids }
                            ids += leases.map(\.task.id)
                        }
                    }
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        try expect(claimed.count == 40 && Set(claimed).count == 40, "every task is claimed exactly once")
    }

    static func capabilitiesLimitClaims(_ h: StoreHarness, strategy: SchedulingStrategy) async throws {
        for type in ["a", "b", "c", "a", "b", "c"] {
            _ = try await h.queue.enqueue(NewTask(type: type, priority: 1))
            h.clock.advance(by: .milliseconds(1))
        }
        let leases = try await h.claim(strategy, types: ["a", "c"], max: 10)
        try expect(leases.count == 4)
        try expect(Set(leases.map(\.task.type)) == ["a", "c"])
        try expect(try await h.claim(strategy, types: ["a", "c"]).isEmpty)
        try expect(try await h.claim(strategy, max: 10).map(\.task.type) == ["b", "b"])
        if strategy == .fifo {
            try expect(leases.map(\.task.id) == leases.map(\.task.id).sorted())
        }
    }

    static func weightedRandomShares(_ h: StoreHarness) async throws {
        let weights = [1: 0.1, 3: 0.3, 6: 0.6]
        for priority in weights.keys.sorted() {
            _ = try await h.queue.enqueue(batch: (0..<200).map { _ in NewTask(type: "t", priority: priority) })
        }
        // Each claimed task is handed back at once, so the ready set stays the same.
        var counts: [Int: Int] = [:]
        let rounds = 2000
        for _ in 0..<rounds {
            let lease = try require(try await h.claim(.weightedRandom).first)
            counts[lease.task.priority, default: 0] += 1
            _ = try await h.queue.release(lease.id)
        }
        for (priority, expected) in weights {
            let share = Double(counts[priority, default: 0]) / Double(rounds)
            // ±5 standard deviations of a binomial share.
            let bound = 5 * (expected * (1 - expected) / Double(rounds)).squareRoot()
            try expect(abs(share - expected) < bound, "priority \(priority): \(share) vs \(expected)")
        }
    }
}
