import Foundation
import GRDB
import PrismQ
import Synchronization

extension SQLiteStore {
    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        let claim = PreparedClaim(request)
        try await prepare(for: request.strategy)
        // The time is read once the write lock is held, so waiting for it never shortens a lease.
        return try await write { [self] db in try Self.claim(claim, now: nowMillis, db: db) }
    }

    /// Makes the index a strategy reads if the file lacks it: the weighted-random index is
    /// built by the first weighted-random claim (one write, then never again in this process).
    package func prepare(for strategy: SchedulingStrategy) async throws(QueueError) {
        guard strategy == .weightedRandom, !weightedRandomIndexReady.load(ordering: .relaxed) else { return }
        try await write { db in try db.execute(sql: SQLiteSchema.weightedRandomIndex) }
        weightedRandomIndexReady.store(true, ordering: .relaxed)
    }

    /// Claims in the current transaction.
    static func claim(_ claim: PreparedClaim, now: Int64, db: Database) throws -> [Lease] {
        let request = claim.request
        let expiry = now + TaskRow.millis(request.leaseDuration)
        try db.cachedStatement(sql: ClaimSQL.touchWorker).execute(arguments: [
            request.workerID, claim.capabilitiesJSON, request.strategy.rawValue, now,
        ])
        let candidates = try candidates(request, capabilities: claim.capabilities, now: now, db: db)
        guard !candidates.isEmpty else { return [] }
        let ids = JSONText.array(candidates.map { String($0.0) })
        try db.cachedStatement(sql: ClaimSQL.take).execute(arguments: [
            request.workerID, now, expiry, TaskRow.millis(request.leaseDuration), ids,
        ])
        let taken = try TaskRow.fetchAll(db.cachedStatement(sql: ClaimSQL.tasksByIDs), arguments: [ids])
        try db.cachedStatement(sql: ClaimSQL.logClaims).execute(arguments: [now, request.workerID, ids])
        if request.strategy == .weightedRandom, let last = candidates.map(\.1).max() {
            try db.cachedStatement(sql: SchedulingKey.advance).execute(arguments: [last])
        }
        // In the strategy's order, which the statement does not keep.
        let rank = Dictionary(candidates.enumerated().map { ($1.0, $0) }, uniquingKeysWith: min)
        return taken.sorted { rank[$0.id, default: 0] < rank[$1.id, default: 0] }.map { task in
            Lease(task: task, id: LeaseID(taskID: task.id, token: task.leaseToken!), expiresAt: TaskRow.date(expiry)!)
        }
    }

    /// The ids (and scheduling keys) to claim, in the strategy's order.
    private static func candidates(
        _ request: ClaimRequest, capabilities: [String], now: Int64, db: Database
    ) throws -> [(Int64, Double)] {
        var types = capabilities
        if types.isEmpty {
            if request.strategy == .fifo || request.strategy == .lifo {
                return try Row.fetchAll(
                    db.cachedStatement(sql: ClaimSQL.anyType(request.strategy)),
                    arguments: [now, request.maxTasks]
                ).map { ($0[0], $0[1]) }
            }
            types = try String.fetchAll(db.cachedStatement(sql: ClaimSQL.queuedTypes))
            if types.isEmpty { return [] }
            if types.count > ClaimSQL.maxMergedTypes {
                return try Row.fetchAll(
                    db.cachedStatement(sql: ClaimSQL.anyType(request.strategy)),
                    arguments: [now, request.maxTasks]
                ).map { ($0[0], $0[1]) }
            }
        }
        let sql = ClaimSQL.namedTypes(request.strategy, typeCount: types.count)
        let statement = types.count <= 16 ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
        let arguments =
            StatementArguments([now, request.maxTasks] as [any DatabaseValueConvertible])
            + StatementArguments(types)
        return try Row.fetchAll(statement, arguments: arguments).map { ($0[0], $0[1]) }
    }

    /// How long until a task of `capabilities` is ready (`.zero`: now; `nil`: none known). The
    /// check `/health` makes: it fails with `storage` once the file was deleted or replaced
    /// (see ``FileIdentity``), as writes do, though the old file still reads.
    public func timeUntilReady(capabilities: [String]) async throws(QueueError) -> Duration? {
        try file?.verify()
        let types = Array(Set(capabilities)).sorted()
        let now = nowMillis
        return try await pointRead { db in
            let millis: Int64? =
                if types.isEmpty {
                    try Int64.fetchOne(db.cachedStatement(sql: ClaimSQL.nextReadyAnyType))
                } else {
                    try Int64.fetchOne(
                        db.cachedStatement(sql: ClaimSQL.nextReady(typeCount: types.count)),
                        arguments: StatementArguments(types)
                    )
                }
            return millis.map { .milliseconds(max(0, $0 - now)) }
        }
    }
}

/// The keys of the weighted-random exponential race (see ``ClaimSQL``).
enum SchedulingKey {
    /// Moves the race's virtual time up to the largest key claimed. Argument: key.
    static let advance = "UPDATE scheduler SET virtual_time = max(virtual_time, ?) WHERE id = 1"

    /// The race's current virtual time.
    static func virtualTime(_ db: Database) throws -> Double {
        try Double.fetchOne(db.cachedStatement(sql: "SELECT virtual_time FROM scheduler WHERE id = 1")) ?? 0
    }

    /// A fresh key for a task of this priority entering the ready set now.
    static func make(priority: Int, virtualTime: Double) -> Double {
        let uniform = Double.random(in: Double.leastNonzeroMagnitude..<1)
        return virtualTime - log(uniform) / Double(max(1, priority))
    }
}

/// A claim request (checked by ``PrismQ/TaskQueue``), with its capabilities deduplicated and sorted.
struct PreparedClaim: Sendable {
    let request: ClaimRequest
    let capabilities: [String]
    /// The capabilities as the registry stores them.
    let capabilitiesJSON: String

    init(_ request: ClaimRequest) {
        self.request = request
        capabilities = Array(Set(request.capabilities)).sorted()
        capabilitiesJSON = JSONText.array(capabilities.map(JSONText.quoted))
    }
}
