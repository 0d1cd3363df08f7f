import Hummingbird
import PrismQ
import PrismQWire

extension QueueAPI {
    /// The most outcomes one `POST /queue/settle` carries (as many as a claim may take).
    static let maxSettlements = 100

    /// `POST /queue/settle` (an addition): the outcomes of several leases and, optionally, a
    /// claim for more tasks, in one transaction — a worker's round in one request. Each outcome
    /// is answered on its own (`ok` with the task, or `lease_lost`, `not_found`,
    /// `payload_too_large`, `invalid_request` with a message, which changed nothing for it).
    /// A malformed request is refused whole, before anything changes.
    func settle(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: maxBatchBodyBytes)
        try body.allowOnly(["outcomes", "claim"])
        let items = try body.objects("outcomes") ?? []
        guard items.count <= Self.maxSettlements else {
            throw APIError.invalid("At most \(Self.maxSettlements) outcomes go in one settle.")
        }
        let settlements = try items.map { item throws(QueueError) in try Settlement(wire: item) }
        var seen = Set<Int64>()
        for settlement in settlements where !seen.insert(settlement.lease.taskID).inserted {
            throw APIError.invalid("Task \(settlement.lease.taskID) has more than one outcome.")
        }
        let claim = try body.object("claim").map { claim in
            try claim.allowOnly(ClaimRequest.wireFields)
            return try ClaimRequest(wire: claim)
        }
        try writeGate.enter()
        defer { writeGate.leave() }
        let result = try await queue.settle(settlements, thenClaim: claim)
        let outcomes = zip(settlements, result.outcomes).map { settlement, outcome in
            var writer = JSONWriter()
            writer.add("task_id", settlement.lease.taskID)
            switch outcome {
            case .success(let task):
                writer.add("status", "ok")
                writer.add("task", raw: task.json())
            case .failure(let error):
                writer.add("status", APIError(error).code)
                writer.add("message", error.message)
            }
            return writer.json
        }
        var writer = JSONWriter()
        writer.add("outcomes", raw: JSONText.array(outcomes))
        writer.add("tasks", raw: JSONText.array(result.leases.map { $0.task.json(includeLease: true) }))
        return Self.json(writer.json)
    }
}
