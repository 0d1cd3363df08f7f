import Foundation
import GRDB
import PrismQ

/// How a task is read from and written to the `tasks` table.
enum TaskRow {
    /// The columns every task query selects, in the order ``decode(_:)`` reads them.
    static let columns = """
        id, type, payload, status, priority, attempts, max_attempts, idempotency_key, created_at, \
        run_after, claimed_by, claimed_at, lease_expires_at, completed_at, last_error, result, \
        lease_token, cancel_requested, timeout_ms, lease_ms
        """

    /// ``columns``, each prefixed with `tasks.` for queries that join other tables.
    static let qualifiedColumns = columns.split(separator: ",").map {
        "tasks." + $0.trimmingCharacters(in: .whitespacesAndNewlines)
    }.joined(separator: ", ")

    /// The task in a row selected with ``columns``.
    static func decode(_ row: Row) -> QueueTask {
        QueueTask(
            id: row[0],
            type: row[1],
            payload: RawJSON(unchecked: row[2]),
            status: TaskStatus(rawValue: row[3]),
            priority: row[4],
            attempts: row[5],
            maxAttempts: row[6],
            idempotencyKey: row[7],
            createdAt: date(row[8])!,
            runAfter: date(row[9])!,
            claimedBy: row[10],
            claimedAt: date(row[11]),
            leaseExpiresAt: date(row[12]),
            completedAt: date(row[13]),
            lastError: row[14],
            result: (row[15] as String?).map(RawJSON.init(unchecked:)),
            leaseToken: row[16],
            cancelRequested: row[17],
            timeout: (row[18] as Int64?).map { .milliseconds($0) },
            leaseDuration: (row[19] as Int64?).map { .milliseconds($0) }
        )
    }

    /// The first task `statement` returns, decoded in place rather than from a copied row;
    /// the statement runs to its end (an `UPDATE … RETURNING` changes every row it names).
    static func fetchOne(_ statement: Statement, arguments: StatementArguments) throws -> QueueTask? {
        var first: QueueTask?
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            if first == nil { first = decode(row) }
        }
        return first
    }

    /// Every task `statement` returns, decoded in place.
    static func fetchAll(_ statement: Statement, arguments: StatementArguments) throws -> [QueueTask] {
        try Array(Row.fetchCursor(statement, arguments: arguments).map(decode))
    }

    /// Milliseconds since 1970 as a date.
    static func date(_ millis: Int64?) -> Date? {
        millis.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// A date as milliseconds since 1970.
    static func millis(_ date: Date) -> Int64 {
        date.millisecondsSince1970
    }

    /// A duration in whole milliseconds, rounded up so a short timeout never becomes zero.
    static func millis(_ duration: Duration) -> Int64 {
        duration.storedMilliseconds
    }
}
