import Foundation
import GRDB
import PrismQ

/// Generated columns that make chosen top-level payload fields indexable.
///
/// For a field `customer_id` the store adds `pf_<hex of the name>` as
/// `json_extract(payload, '$.customer_id')` (a virtual generated column: nothing is stored
/// twice) and the index `tasks_by_pf_<hex>` on it and `id`, so a list filtered by that field
/// reads an index in newest-first order. The hex name keeps field names that differ only in
/// case apart (SQLite column names ignore case).
enum PayloadIndexes {
    /// The column holding a field's value.
    static func column(_ field: String) -> String {
        "pf_" + field.utf8.map { String(format: "%02x", $0) }.joined()
    }

    /// The index over a field's column.
    static func index(_ field: String) -> String {
        "tasks_by_" + column(field)
    }

    /// Adds the column and index of every field that lacks them. Runs in the caller's transaction.
    static func ensure(_ fields: [String], db: Database) throws {
        let existing = try indexedFields(db)
        for field in Set(fields).subtracting(existing).sorted() {
            try db.execute(
                sql: """
                    ALTER TABLE tasks ADD COLUMN \(column(field))
                        GENERATED ALWAYS AS (json_extract(payload, '$.\(field)')) VIRTUAL;
                    CREATE INDEX \(index(field)) ON tasks (\(column(field)), id);
                    """
            )
        }
    }

    /// The fields that have a column and an index in this database (made by any process).
    static func indexedFields(_ db: Database) throws -> Set<String> {
        let indexes = try Set(String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index'"))
        let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_xinfo('tasks')")
        return Set(
            columns.compactMap { name -> String? in
                guard name.hasPrefix("pf_"), let field = decode(String(name.dropFirst(3))),
                    indexes.contains(index(field))
                else { return nil }
                return field
            }
        )
    }

    private static func decode(_ hex: String) -> String? {
        var bytes: [UInt8] = []
        var rest = Substring(hex)
        while rest.count >= 2 {
            guard let byte = UInt8(rest.prefix(2), radix: 16) else { return nil }
            bytes.append(byte)
            rest = rest.dropFirst(2)
        }
        return rest.isEmpty ? String(bytes: bytes, encoding: .utf8) : nil
    }
}
