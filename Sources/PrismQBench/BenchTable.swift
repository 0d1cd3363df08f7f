import Foundation
import PrismQ
import PrismQTerminal

/// One table of `prismq bench`'s report, printed as text or as JSON.
struct BenchTable {
    /// A cell: text, a number shown with `digits` decimals, or nothing.
    enum Value {
        case text(String)
        case number(Double, digits: Int)
        case none

        var text: String {
            switch self {
            case .text(let text): text
            case .number(let value, let digits): String(format: "%.\(digits)f", value)
            case .none: "-"
            }
        }

        var json: String {
            switch self {
            case .text(let text): JSONText.quoted(text)
            case .number(let value, let digits):
                value.isFinite ? String(format: "%.\(digits)f", value) : "null"
            case .none: "null"
            }
        }
    }

    /// The table's key in the JSON report.
    var key: String
    /// Its heading in the text report.
    var title: String
    /// Each column's heading and JSON key.
    var columns: [(header: String, key: String)]
    var rows: [[Value]] = []
    /// A line printed under the table.
    var note: String?

    var text: String {
        let table = Formatting.table(header: columns.map(\.header), rows: rows.map { $0.map(\.text) })
        return "\(title)\n\(table)" + (note.map { "\n\($0)" } ?? "")
    }

    var json: String {
        JSONText.array(
            rows.map { row in
                "{" + zip(columns, row).map { JSONText.quoted($0.key) + ":" + $1.json }.joined(separator: ",") + "}"
            })
    }
}
