import Foundation
import PrismQ

extension QueueTask {
    /// The contract's task object as JSON text, fields in the contract's order.
    ///
    /// `cancel_requested` and `timeout_seconds` are PrismQ's additions; with `includeLease`, the
    /// lease token is added too (for workers).
    package func json(includeLease: Bool = false) -> String {
        var writer = JSONWriter()
        write(into: &writer, includeLease: includeLease)
        return writer.json
    }

    /// Adds the contract's task fields to `writer` (see ``json(includeLease:)``).
    package func write(into writer: inout JSONWriter, includeLease: Bool) {
        writer.add("id", id)
        writer.add("type", type)
        writer.add("payload", raw: payload.text)
        writer.add("status", status.rawValue)
        writer.add("priority", priority)
        writer.add("attempts", attempts)
        writer.add("max_attempts", maxAttempts)
        writer.add("idempotency_key", idempotencyKey)
        writer.add("created_at", createdAt)
        writer.add("run_after", runAfter)
        writer.add("claimed_by", claimedBy)
        writer.add("claimed_at", claimedAt)
        writer.add("lease_expires_at", leaseExpiresAt)
        writer.add("completed_at", completedAt)
        writer.add("last_error", lastError)
        writer.add("result", raw: result?.text)
        writer.add(
            "timeout_seconds", timeout?.inSeconds)
        writer.add("cancel_requested", cancelRequested)
        if includeLease {
            writer.add("lease_token", leaseToken)
        }
    }
}
