import Foundation

extension Date {
    /// Whole milliseconds since 1970, the precision PrismQ keeps and shows times at: the
    /// nearest one, so that a date made from milliseconds gives exactly those back (`Date`
    /// holds seconds since 2001, so seconds since 1970 come back a hair off, and rounding down
    /// would lose a millisecond).
    package var millisecondsSince1970: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded())
    }
}
