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

    /// Reads an RFC 3339 time (`date-time` of its grammar): `YYYY-MM-DDTHH:MM:SS`, an optional
    /// fraction of a second, and `Z` or an offset `±HH:MM`; `T` and `Z` in either case. The
    /// calendar is the proleptic Gregorian one, as ``string(from:)`` writes, and the time is
    /// rounded to the nearest millisecond, as the contract keeps times.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` for anything else, a field out of its range
    ///   (a 31 April, a 29 February outside a leap year, a leap second) or an instant outside
    ///   the years 0 to 9999 in UTC among it.
    public static func date(from text: String) throws(QueueError) -> Date {
        guard let millis = milliseconds(Array(text.utf8)) else {
            throw QueueError(.invalidArgument, "'\(text.prefix(64))' is not an RFC 3339 time.")
        }
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    /// The instant `bytes` name, in milliseconds since 1970, or `nil` unless they are exactly
    /// an RFC 3339 `date-time`.
    private static func milliseconds(_ bytes: [UInt8]) -> Int64? {
        var index = 0
        func digits(_ count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + count] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("Tt"), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24,
            minute < 60, second < 60
        else { return nil }
        // The fraction, to the nearest millisecond: its first four digits decide.
        var fraction: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            var scaled: Int64 = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                if index - start < 4 { scaled = scaled * 10 + Int64(bytes[index] - 0x30) }
                index += 1
            }
            guard index > start else { return nil }
            for _ in min(index - start, 4)..<4 { scaled *= 10 }
            fraction = (scaled + 5) / 10
        }
        var offset: Int64 = 0
        if !expect("Zz") {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else {
                return nil
            }
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let hours = digits(2), expect(":"), let minutes = digits(2), hours < 24, minutes < 60 else {
                return nil
            }
            offset = sign * (hours * 60 + minutes) * 60_000
        }
        guard index == bytes.count else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let millis = days * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + fraction - offset
        // Years 0 to 9999 in UTC, as the writer writes them (an offset or a rounding past either
        // end is refused).
        return (-62_167_219_200_000...253_402_300_799_999).contains(millis) ? millis : nil
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days-from-civil algorithm (the inverse of ``civilDate(daysSinceEpoch:)``).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

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
