import Foundation
import PostgresNIO
import PrismQ

/// How a task is read from the `tasks` table.
enum TaskColumns {
    /// The columns every task query selects, in the order ``decode(_:)`` reads them.
    static let list = """
        id, type, payload, status, priority, attempts, max_attempts, idempotency_key, created_at, \
        run_after, claimed_by, claimed_at, lease_expires_at, completed_at, last_error, result, \
        lease_token, cancel_requested, timeout_ms, lease_ms
        """

    /// ``list`` with each column prefixed by `table.`.
    static func qualified(_ table: String) -> String {
        list.split(separator: ",").map { "\(table)." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .joined(separator: ", ")
    }

    /// The task in a row selected with ``list``.
    static func decode(_ row: PostgresRow) throws -> QueueTask {
        let cells = row.makeRandomAccess()
        return QueueTask(
            id: try cells[0].decode(Int64.self),
            type: try cells[1].decode(String.self),
            payload: RawJSON(unchecked: try cells[2].decode(String.self)),
            status: TaskStatus(rawValue: try cells[3].decode(String.self)),
            priority: Int(try cells[4].decode(Int64.self)),
            attempts: Int(try cells[5].decode(Int64.self)),
            maxAttempts: Int(try cells[6].decode(Int64.self)),
            idempotencyKey: try cells[7].decode(String?.self),
            createdAt: date(try cells[8].decode(Int64.self)),
            runAfter: date(try cells[9].decode(Int64.self)),
            claimedBy: try cells[10].decode(String?.self),
            claimedAt: try cells[11].decode(Int64?.self).map(date),
            leaseExpiresAt: try cells[12].decode(Int64?.self).map(date),
            completedAt: try cells[13].decode(Int64?.self).map(date),
            lastError: try cells[14].decode(String?.self),
            result: try cells[15].decode(String?.self).map(RawJSON.init(unchecked:)),
            leaseToken: try cells[16].decode(Int64?.self),
            cancelRequested: try cells[17].decode(Bool.self),
            timeout: try cells[18].decode(Int64?.self).map { .milliseconds($0) },
            leaseDuration: try cells[19].decode(Int64?.self).map { .milliseconds($0) }
        )
    }

    /// Milliseconds since 1970 as a date.
    static func date(_ millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    /// A date as milliseconds since 1970.
    static func millis(_ date: Date) -> Int64 {
        date.millisecondsSince1970
    }

    /// A duration in whole milliseconds, rounded up so a short timeout never becomes zero.
    static func millis(_ duration: Duration) -> Int64 {
        duration.storedMilliseconds
    }

    /// A fresh weighted-random key for a task of priority `priority` (a SQL expression): the
    /// race's virtual time plus Exp(1) / weight (see the SQLite store's `ClaimSQL`).
    static func schedulingKey(priority: String) -> String {
        "(SELECT virtual_time FROM scheduler WHERE id = 1) - ln(1 - random()) / greatest(1, \(priority))"
    }
}
