extension Duration {
    /// The duration in seconds, with its fraction.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Duration {
    /// `seconds` as a duration, rounded to the millisecond by `rule`: the one way PrismQ turns a
    /// number of seconds from a user, a request, a file or a policy into a duration.
    ///
    /// A decimal written from whole milliseconds reads back as them: `2.007 * 1000` is
    /// 2007.0000000000002, a few units in the last place off, and such noise is snapped away
    /// before `rule` rounds (so `.up` gives 2,007 ms, not 2,008; so does `1.1400000000000001`
    /// give 1,140). Anything further from a whole millisecond is rounded by `rule` as it is, so
    /// `.up` never makes a positive duration zero. Out of range, it is clamped to what
    /// `Duration` holds in milliseconds (NaN is zero), for the caller's range check to refuse.
    package init(seconds: Double, rounding rule: FloatingPointRoundingRule) {
        var milliseconds = seconds * 1000
        let nearest = milliseconds.rounded()
        if abs(milliseconds - nearest) <= 4 * milliseconds.ulp { milliseconds = nearest }
        let largest = Double(Int64.max / 2)  // below 2^63, exactly representable
        let whole = milliseconds.isNaN ? 0 : min(max(milliseconds.rounded(rule), -largest), largest)
        self = .milliseconds(Int64(whole))
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up so that a short timeout never becomes
    /// zero: the unit stores keep times in.
    package var storedMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
