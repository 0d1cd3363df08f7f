import Foundation
import PrismQ

/// Readable terminal output: aligned tables and short times, with stored text made safe to
/// print; shared by the commands and the benchmark's report.
package enum Formatting {
    /// `text` with every control character (C0 including newline and ESC, DEL, C1) written as
    /// a Swift escape such as `\u{1B}`, so that stored text cannot move the cursor, recolour
    /// or retitle the terminal, nor fake a line of output. Human output passes every piece of
    /// stored or user-given text through this; `--json` output is exact and is not escaped.
    package static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result.append(contentsOf: "\\u{\(hex.count < 2 ? "0" + hex : hex)}".unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// A size in bytes for people: `0 B`, `512 B`, `4.0 KiB`, `12.3 MiB`, `1.5 GiB`.
    package static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// Rows under a header, each column as wide as its widest cell; every cell is ``escaped(_:)``.
    package static func table(header: [String], rows: [[String]]) -> String {
        let header = header.map(escaped)
        let rows = rows.map { $0.map(escaped) }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// A time in RFC 3339, or `-`.
    package static func time(_ date: Date?) -> String {
        date.map(RFC3339.string(from:)) ?? "-"
    }

    /// Text cut to `width` characters with an ellipsis (not yet ``escaped(_:)``).
    package static func clip(_ text: String?, _ width: Int = 40) -> String {
        guard let text else { return "-" }
        return text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }

    /// The one-task-per-row table of `list`.
    package static func taskTable(_ tasks: [QueueTask]) -> String {
        table(
            header: ["ID", "TYPE", "STATUS", "PRIORITY", "ATTEMPTS", "CREATED", "RUN AFTER", "LAST ERROR"],
            rows: tasks.map { task in
                [
                    String(task.id), task.type, task.status.rawValue, String(task.priority),
                    "\(task.attempts)/\(task.maxAttempts)", time(task.createdAt), time(task.runAfter),
                    clip(task.lastError),
                ]
            }
        )
    }

    /// Every field of one task, a line each, every value ``escaped(_:)``.
    package static func taskDetail(_ task: QueueTask) -> String {
        let fields: [(String, String)] = [
            ("id", String(task.id)), ("type", task.type), ("status", task.status.rawValue),
            ("priority", String(task.priority)), ("attempts", "\(task.attempts) of \(task.maxAttempts)"),
            ("idempotency key", task.idempotencyKey ?? "-"), ("created at", time(task.createdAt)),
            ("run after", time(task.runAfter)), ("claimed by", task.claimedBy ?? "-"),
            ("claimed at", time(task.claimedAt)), ("lease expires at", time(task.leaseExpiresAt)),
            ("completed at", time(task.completedAt)), ("cancel requested", task.cancelRequested ? "yes" : "no"),
            ("last error", task.lastError ?? "-"), ("payload", task.payload.text),
            ("result", task.result?.text ?? "-"),
        ]
        let width = fields.map(\.0.count).max() ?? 0
        return fields.map { name, value in
            name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + escaped(value)
        }
        .joined(separator: "\n")
    }
}
