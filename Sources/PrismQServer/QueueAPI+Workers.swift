import Foundation
import Hummingbird
import Logging
import PrismQ
import PrismQWire

extension QueueAPI {
    /// `POST /queue/claim`: claims up to `max_tasks`, waiting up to `wait_seconds` for one to
    /// be ready (see ``ClaimWaitRoom``). A waiting claim whose client disconnects stops waiting
    /// and claims nothing; a task it claimed as the client left is released at once.
    func claim(_ request: Request, _ context: some RequestContext) async throws -> Response {
        var request = request
        // Collected in place, so the connection can still be watched for its close below.
        _ = try await request.collectBody(upTo: 64 << 10)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(Self.waitingClaimFields)
        let claim = try ClaimRequest(wire: body)
        let wait = min(try body.seconds("wait_seconds", in: 0...30) ?? .zero, configuration.claimWaitLimit)
        var leases: [Lease]
        do {
            try writeGate.enter()
            defer { writeGate.leave() }
            leases = try await queue.claim(claim)
        }
        let waits = leases.isEmpty && wait > .zero
        if waits {
            let waiter = try waitRoom.enter(capabilities: claim.capabilities)
            defer { waitRoom.leave(waiter) }
            leases = try await request.body.consumeWithInboundCloseHandler { _ in
                let leases = try await claimWaiting(claim, as: waiter, for: wait)
                // Decided here: the close handler also runs when this operation ends.
                guard waiter.isGone else { return leases }
                for lease in leases {
                    do {
                        _ = try await queue.release(lease.id)
                    } catch {
                        context.logger.notice(
                            "A task claimed for a client that left could not be released; its lease will expire",
                            metadata: ["prismq.task.id": "\(lease.id.taskID)", "prismq.error": "\(error)"])
                    }
                }
                return []
            } onInboundClosed: {
                waiter.clientLeft()
            }
        }
        var writer = JSONWriter()
        writer.add("tasks", raw: JSONText.array(leases.map { $0.task.json(includeLease: true) }))
        var response = Self.json(writer.json)
        // Watching for the client's close ends the connection's request stream: say so.
        if waits { response.headers[.connection] = "close" }
        return response
    }

    /// The fields of `POST /queue/claim`: a claim's, and `wait_seconds`.
    static let waitingClaimFields = ClaimRequest.wireFields.union(["wait_seconds"])

    /// Waits in the room until woken for a ready task, and claims; stops at the deadline, when
    /// the client is gone, or when the request is cancelled.
    private func claimWaiting(
        _ claim: ClaimRequest, as waiter: ClaimWaitRoom.Waiter, for wait: Duration
    ) async throws -> [Lease] {
        let deadline = ContinuousClock.now + wait
        while !waiter.isGone, !Task.isCancelled {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            guard await waiter.signal.wait(timeout: remaining), !waiter.isGone else { continue }
            // Not through the write gate: waiting claims are bounded by the room, and one woken
            // after a long wait should not be refused now.
            let leases = try await queue.claim(claim)
            waitRoom.attempted(waiter, claimed: !leases.isEmpty)
            if !leases.isEmpty { return leases }
        }
        return []
    }

    /// `POST /queue/tasks/{id}/release`: hands the task back unworked (at a worker's shutdown):
    /// `queued` again at once, the attempt refunded.
    func release(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["lease_token"])
        let lease = LeaseID(taskID: id, token: try body.leaseToken())
        try writeGate.enter()
        defer { writeGate.leave() }
        return Self.json(try await queue.release(lease).json())
    }

    /// `POST /queue/tasks/{id}/heartbeat`: extends the lease by `lease_seconds`, or by the
    /// claim's lease length.
    func heartbeat(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["lease_token", "lease_seconds"])
        let lease = LeaseID(taskID: id, token: try body.leaseToken())
        let task = try await queue.task(id: id)  // an unknown id is a 404, not a lost lease
        let duration = try body.seconds("lease_seconds", in: 0.1...86_400) ?? task.leaseDuration
        try writeGate.enter()
        defer { writeGate.leave() }
        let renewed = try await queue.renew(lease, for: duration ?? .seconds(30))
        var writer = JSONWriter()
        writer.add("lease_expires_at", renewed.expiresAt)
        writer.add("cancel_requested", renewed.cancelRequested)
        return Self.json(writer.json)
    }

    /// `POST /queue/tasks/{id}/complete`.
    func complete(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: maxBodyBytes)
        try body.allowOnly(["lease_token", "result"])
        let lease = LeaseID(taskID: id, token: try body.leaseToken())
        let result = body.result()
        try writeGate.enter()
        defer { writeGate.leave() }
        return Self.json(try await queue.complete(lease, result: result).json())
    }

    /// `POST /queue/tasks/{id}/fail`: re-queued with the queue's retry policy, or `dead`.
    func fail(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try Self.id(context)
        let body = try await Self.body(request, limit: 64 << 10)
        try body.allowOnly(["lease_token", "error", "retryable"])
        let lease = LeaseID(taskID: id, token: try body.leaseToken())
        guard let error = try body.string("error") else { throw APIError.invalid("'error' is required.") }
        let retryable = try body.bool("retryable") ?? true
        try writeGate.enter()
        defer { writeGate.leave() }
        let task = try await queue.fail(lease, error: error, retryable: retryable)
        return Self.json(task.json())
    }
}
