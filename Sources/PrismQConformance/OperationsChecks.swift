import Foundation
import PrismQ

/// The sweeper, the worker registry, statistics, throughput and retention.
enum OperationsChecks {
    static let all: [ConformanceCheck] = [
        ConformanceCheck("theSweeperMovesEveryExpiredLeaseInBatches", sweeperWorksInBatches),
        ConformanceCheck("theRegistryTracksActiveStaleAndStoppedWorkers", registryTracksWorkers),
        ConformanceCheck("statsCountStatusesTypesAgesAndThroughput", statsCount),
        ConformanceCheck("throughputHasOneBucketPerMinuteOldestFirst", throughputBuckets),
        ConformanceCheck("purgeDeletesOnlyFinishedTasksPastTheCutoffWithTheirHistory", purgeKeepsUnfinished),
        ConformanceCheck("purgeWorksInBatches", purgeWorksInBatches),
        ConformanceCheck("retentionKeepsEachStatusAndTypeForItsOwnTime", retentionByStatusAndType),
        ConformanceCheck("aMaintenanceRoundRecordsTheRetentionItApplied", retentionIsRecorded),
        ConformanceCheck("retentionNeverTouchesARunningTaskHoweverOld", retentionSparesRunningTasks),
    ]

    static func sweeperWorksInBatches(_ h: StoreHarness) async throws {
        _ = try await h.queue.enqueue(batch: (0..<5).map { _ in NewTask(type: "t") })
        _ = try await h.claim(max: 3, lease: .seconds(10))
        _ = try await h.claim(max: 2, lease: .seconds(60))
        let sweeper = Sweeper(queue: h.queue, batchSize: 2)
        try expect(try await sweeper.sweep() == 0)
        h.clock.advance(by: .seconds(11))
        try expect(try await sweeper.sweep() == 3, "three expired leases, two per transaction")
        let stats = try await h.queue.stats()
        try expect(stats.byStatus[.queued] == 3 && stats.byStatus[.running] == 2)
    }

    static func registryTracksWorkers(_ h: StoreHarness) async throws {
        try await h.queue.register(
            WorkerRegistration(id: "a", hostname: "h", pid: 42, capabilities: ["x", "y"], strategy: .priority)
        )
        try await h.queue.register(WorkerRegistration(id: "b"))
        h.clock.advance(by: .seconds(20))
        try await h.queue.workerHeartbeat(id: "a")
        h.clock.advance(by: .seconds(15))
        var workers = try await h.queue.workers()
        try expect(workers.map(\.id) == ["a", "b"], "most recently seen first")
        try expect(workers[0].state == .active && workers[1].state == .stale)
        try expect(workers[0].hostname == "h" && workers[0].pid == 42 && workers[0].capabilities == ["x", "y"])
        try expect(workers[0].strategy == "priority")
        try expect(workers[0].lastHeartbeatAt == h.clock.now().addingTimeInterval(-15))
        try await h.queue.workerStopped(id: "b")
        workers = try await h.queue.workers()
        try expect(workers.first { $0.id == "b" }?.state == .stopped)
        let stats = try await h.queue.stats()
        try expect(stats.activeWorkers == 1 && stats.staleWorkers == 0)
        try await expect(throws: .invalidArgument) { try await h.queue.register(WorkerRegistration(id: "")) }
    }

    static func statsCount(_ h: StoreHarness) async throws {
        let empty = try await h.queue.stats()
        try expect(empty.oldestReadyAgeSeconds == nil)
        try expect(empty.byStatus.count == TaskStatus.allCases.count && empty.byStatus.values.allSatisfy { $0 == 0 })

        _ = try await h.queue.enqueue(batch: [NewTask(type: "a"), NewTask(type: "a"), NewTask(type: "b")])
        _ = try await h.queue.enqueue(NewTask(type: "b", delay: .seconds(60)))
        h.clock.advance(by: .milliseconds(2500))
        _ = try await h.queue.enqueue(NewTask(type: "c", maxAttempts: 2))
        let failing = try require(try await h.claim(types: ["c"]).first)
        _ = try await h.queue.fail(failing.id, error: "once")
        h.clock.advance(by: .seconds(4))
        let done = try require(try await h.claim(types: ["c"]).first)
        _ = try await h.queue.complete(done.id, result: nil)
        let stats = try await h.queue.stats()
        try expect(stats.byStatus[.queued] == 4 && stats.byStatus[.completed] == 1, "\(stats.byStatus)")
        try expect(stats.byType["a"]?[.queued] == 2 && stats.byType["b"]?[.queued] == 2)
        try expect(stats.byType["c"]?[.completed] == 1 && stats.byType["c"]?[.queued] == 0)
        try expect(stats.oldestReadyAgeSeconds == 6.5, "\(String(describing: stats.oldestReadyAgeSeconds))")
        try expect(stats.completedLastMinute == 1 && stats.completedLastHour == 1)
        try expect(stats.failedLastMinute == 1 && stats.failedLastHour == 1)
        try expect(stats.completedLastDay == 1 && stats.failedLastDay == 1)
        let c = RecentCounts(lastMinute: 1, lastHour: 1, lastDay: 1)
        try expect(stats.activityByType["c"] == TypeActivity(completed: c, failed: c), "\(stats.activityByType)")
        try expect(stats.activityByType["a"]?.oldestReadyAgeSeconds == 6.5, "\(stats.activityByType)")
        try expect(stats.activityByType["b"] == TypeActivity(oldestReadyAgeSeconds: 6.5), "\(stats.activityByType)")
        h.clock.advance(by: .seconds(120))
        let later = try await h.queue.stats()
        try expect(later.completedLastMinute == 0 && later.completedLastHour == 1 && later.failedLastMinute == 0)
        try expect(later.oldestReadyAgeSeconds == 126.5)
        try expect(later.activityByType["c"]?.completed == RecentCounts(lastMinute: 0, lastHour: 1, lastDay: 1))
        h.clock.advance(by: .seconds(2 * 3600))
        let day = try await h.queue.stats()
        try expect(
            day.activityByType["c"]
                == TypeActivity(completed: RecentCounts(lastDay: 1), failed: RecentCounts(lastDay: 1)))
        try expect(day.activityByType["b"]?.oldestReadyAgeSeconds == 7326.5, "b's first task, ready since the start")
        h.clock.advance(by: .seconds(24 * 3600))
        try expect(try await h.queue.stats().activityByType["c"] == nil, "nothing of c in the last day")
    }

    static func throughputBuckets(_ h: StoreHarness) async throws {
        // Start on a minute's boundary, so the buckets are known.
        let now = h.clock.now().timeIntervalSince1970
        h.clock.advance(by: .milliseconds(Int64((60 - now.truncatingRemainder(dividingBy: 60)) * 1000)))
        let first = try await h.runningTask(maxAttempts: 2)
        _ = try await h.queue.complete(first.id, result: nil)
        h.clock.advance(by: .seconds(60))
        let second = try await h.runningTask(maxAttempts: 2)
        _ = try await h.queue.fail(second.id, error: "x")
        let third = try await h.runningTask()
        _ = try await h.queue.complete(third.id, result: nil)
        let buckets = try await h.queue.throughput(minutes: 3)
        try expect(buckets.count == 3)
        try expect(buckets.map(\.completed) == [0, 1, 1] && buckets.map(\.failed) == [0, 0, 1], "\(buckets)")
        try expect(buckets.map(\.minute) == buckets.map(\.minute).sorted(), "oldest first")
        try expect(buckets[2].minute.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0)
        try await expect(throws: .invalidArgument) { try await h.queue.throughput(minutes: 0) }
        try await expect(throws: .invalidArgument) { try await h.queue.throughput(minutes: 1441) }
    }

    static func purgeKeepsUnfinished(_ h: StoreHarness) async throws {
        let old = try await h.queue.enqueue(batch: (0..<4).map { NewTask(type: "t", idempotencyKey: "old-\($0)") })
            .map(\.task.id)
        _ = try await h.queue.cancel(id: old[0])
        let completed = try require(try await h.claim().first)
        try expect(completed.task.id == old[1])
        _ = try await h.queue.complete(completed.id, result: nil)
        let failed = try require(try await h.claim().first)
        _ = try await h.queue.fail(failed.id, error: "x", retryable: false)
        let anotherDead = try await h.finishedTask(.dead)
        h.clock.advance(by: .seconds(3600))
        let recent = try await h.queue.enqueue(NewTask(type: "t")).task.id
        _ = try await h.queue.cancel(id: recent)

        let clock = h.clock
        let scheduler = MaintenanceScheduler(queue: h.queue, retention: .keeping(.seconds(1800)), now: { clock.now() })
        try expect(try await scheduler.runOnce() == 4, "cancelled, completed and dead tasks older than 30 minutes")
        let left = try await h.queue.tasks().tasks.map(\.id)
        try expect(left == [recent, old[3]], "a queued task is never purged, however old: \(left)")
        try await expect(throws: .notFound) { try await h.queue.logs(taskID: old[0]) }
        try await expect(throws: .notFound) { try await h.queue.task(id: anotherDead.id) }
        let reused = try await h.queue.enqueue(NewTask(type: "t", idempotencyKey: "old-0"))
        try expect(reused.created, "a purged task's idempotency key is free again")
        try expect(try await MaintenanceScheduler(queue: h.queue, retention: nil).runOnce() == 0)
    }

    static func retentionSparesRunningTasks(_ h: StoreHarness) async throws {
        // A task that died, was retried and runs again; and one whose lease ran out long ago
        // with no sweeper to take it back.
        let revived = try await h.finishedTask(.dead)
        _ = try await h.queue.retry(id: revived.id)
        let again = try require(try await h.claim(types: [revived.type]).first)
        try expect(again.task.id == revived.id && again.task.status == .running)
        let held = try await h.runningTask()
        let logs = [
            try await h.queue.logs(taskID: revived.id).count, try await h.queue.logs(taskID: held.task.id).count,
        ]
        h.clock.advance(by: .seconds(60 * 86400))
        let clock = h.clock
        let scheduler = MaintenanceScheduler(queue: h.queue, retention: .keeping(.seconds(60)), now: { clock.now() })
        try expect(try await scheduler.runOnce() == 0, "only finished tasks are purged")
        for (id, count) in zip([revived.id, held.task.id], logs) {
            try expect(try await h.queue.task(id: id).status == .running)
            try expect(try await h.queue.logs(taskID: id).count == count, "task \(id) keeps its history")
        }
    }

    static func purgeWorksInBatches(_ h: StoreHarness) async throws {
        let ids = try await h.queue.enqueue(batch: (0..<25).map { _ in NewTask(type: "t") }).map(\.task.id)
        for id in ids { _ = try await h.queue.cancel(id: id) }
        h.clock.advance(by: .seconds(10))
        try expect(try await h.queue.purge(finishedBefore: h.clock.now(), limit: 10) == 10)
        try expect(try await h.queue.purge(finishedBefore: h.clock.now(), limit: 100) == 15)
        try await expect(throws: .invalidArgument) {
            try await h.queue.purge(finishedBefore: h.clock.now(), limit: 0)
        }
        try expect(try await h.queue.stats().byStatus.values.reduce(0, +) == 0)
    }

    static func retentionByStatusAndType(_ h: StoreHarness) async throws {
        let day = 86400.0
        let queued = try await h.queue.enqueue(NewTask(type: "t2")).task.id
        let completed = try await h.finishedTask(.completed).id
        let dead = try await h.finishedTask(.dead).id
        let cancelled = try await h.finishedTask(.cancelled).id
        let reports = try await h.queue.enqueue(batch: [
            NewTask(type: "report"), NewTask(type: "report", maxAttempts: 1),
        ])
        let leases = try await h.claim(types: ["report"], max: 2)
        try expect(leases.map(\.task.id) == reports.map(\.task.id))
        let report = try await h.queue.complete(leases[0].id, result: nil).id
        let deadReport = try await h.queue.fail(leases[1].id, error: "x", retryable: false).id
        h.clock.advance(by: .seconds(10 * day))
        let recent = try await h.finishedTask(.completed).id

        var policy = RetentionPolicy()
        policy.byType["report"] = [.completed: .seconds(90 * day)]
        let clock = h.clock
        let scheduler = MaintenanceScheduler(queue: h.queue, retention: policy, now: { clock.now() })
        let oldCompleted = PurgeSelection(
            status: .completed, finishedBefore: clock.now().addingTimeInterval(-7 * day), types: .allExcept(["report"]))
        try expect(try await h.queue.countPurgeable(oldCompleted) == 1)
        try expect(try await scheduler.runOnce() == 2, "completed and cancelled past 7 days; dead kept for 30")
        var left = Set(try await h.queue.tasks().tasks.map(\.id))
        try expect(left == [queued, dead, report, deadReport, recent], "\(left)")
        try await expect(throws: .notFound) { try await h.queue.task(id: completed) }
        try await expect(throws: .notFound) { try await h.queue.task(id: cancelled) }

        h.clock.advance(by: .seconds(25 * day))
        try expect(try await scheduler.runOnce() == 3, "dead past 30 days, of every type, and the newer completed")
        left = Set(try await h.queue.tasks().tasks.map(\.id))
        try expect(left == [queued, report], "the report type keeps its completed tasks 90 days: \(left)")

        let reportsOnly = PurgeSelection(status: .completed, finishedBefore: clock.now(), types: .only("report"))
        try expect(try await h.queue.purgeAll(reportsOnly) == 1)
        try expect(try await h.queue.tasks().tasks.map(\.id) == [queued], "a queued task is never purged")
        try await expect(throws: .invalidArgument) {
            try await h.queue.purge(PurgeSelection(status: .queued, finishedBefore: clock.now()), limit: 10)
        }
    }

    static func retentionIsRecorded(_ h: StoreHarness) async throws {
        try expect(try await h.queue.recordedRetention() == nil, "no round has run")
        var policy = RetentionPolicy()
        policy.byStatus[.dead] = .some(nil)
        policy.byType["report"] = [.completed: .seconds(90 * 86400), .cancelled: .seconds(5400)]
        let clock = h.clock
        let first = clock.now()
        try await MaintenanceScheduler(queue: h.queue, retention: policy, now: { clock.now() }).runOnce()
        let recorded = try await h.queue.recordedRetention()
        try expect(
            recorded?.rules == "completed=7d dead=forever cancelled=7d report:completed=90d report:cancelled=90m",
            "\(String(describing: recorded))")
        try expect(abs((recorded?.recordedAt ?? .distantPast).timeIntervalSince(first)) < 0.002)

        h.clock.advance(by: .seconds(300))
        try await MaintenanceScheduler(queue: h.queue, retention: nil, now: { clock.now() }).runOnce()
        let replaced = try await h.queue.recordedRetention()
        try expect(
            replaced?.rules == "completed=forever dead=forever cancelled=forever", "\(String(describing: replaced))")
        try expect(abs((replaced?.recordedAt ?? .distantPast).timeIntervalSince(clock.now())) < 0.002)
    }
}
