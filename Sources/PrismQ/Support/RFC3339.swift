import Foundation

/// RFC 3339 UTC times with milliseconds (`2026-11-22T09:05:26.123Z`), as the contract writes them.
public enum RFC3339 {
    /// Formats a time, to the nearest millisecond (``Foundation/Date/millisecondsSince1970``).
    public static func string(from date: Date) -> String {
        let millis = date.millisecondsSince1970
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let msOfDay = millis - days * 86_400_000
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let ms = msOfDay % 1000
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(ms, 3))Z"
    }

    /// Reads an RFC 3339 time, with or without fractional seconds, in any offset.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` for anything else.
    public static func date(from text: String) throws(QueueError) -> Date {
        guard
            let date = (try? Date(text, strategy: withFraction)) ?? (try? Date(text, strategy: withoutFraction))
        else {
            throw QueueError(.invalidArgument, "'\(text.prefix(64))' is not an RFC 3339 time.")
        }
        // Whole milliseconds, as the contract keeps times (the parse may be off by a few ulps).
        return Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Howard Hinnant's days-to-civil algorithm.
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
