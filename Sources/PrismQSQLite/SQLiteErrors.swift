import GRDB
import PrismQ

extension QueueError {
    /// Translates whatever a database call threw into the one public error type.
    ///
    /// `QueueError`s thrown inside a transaction pass through unchanged. SQLite's own messages
    /// are kept; SQL arguments (payloads) never are.
    static func translating(_ error: any Error, path: String) -> QueueError {
        if let error = error as? QueueError { return error }
        guard let error = error as? DatabaseError else {
            return QueueError(.storage, "The database \(path) failed: \(error).")
        }
        let reason = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return QueueError(.busy, "The database \(path) stayed locked for the whole busy timeout.")
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return QueueError(.storage, "The file \(path) is not a PrismQ SQLite database (\(reason)).")
        case .SQLITE_READONLY:
            return QueueError(.storage, "The database \(path) is read-only (\(reason)).")
        case .SQLITE_CANTOPEN:
            return QueueError(.storage, "The database \(path) cannot be opened (\(reason)).")
        case .SQLITE_FULL:
            return QueueError(.storage, "The disk holding \(path) is full.")
        default:
            return QueueError(.storage, "The database \(path) failed: \(reason).")
        }
    }
}
