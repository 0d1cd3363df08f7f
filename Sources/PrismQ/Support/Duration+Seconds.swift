extension Duration {
    /// The duration in seconds, with its fraction.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Duration {
    /// `seconds` (finite, at most about 285 years) as a duration, rounded to the millisecond
    /// by `rule` after rounding to the microsecond, so that a decimal written from
    /// milliseconds reads back as them (`2.007` is 2,007 ms, though `2.007 * 1000` is
    /// 2007.0000000000002; so is `1.1400000000000001`): the one way PrismQ turns a number of
    /// seconds from a user, a request or a policy into a duration.
    package init(seconds: Double, rounding rule: FloatingPointRoundingRule) {
        let microseconds = (seconds * 1_000_000).rounded()
        self = .milliseconds(Int64((microseconds / 1000).rounded(rule)))
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
