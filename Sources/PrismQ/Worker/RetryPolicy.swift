/// When a failed attempt runs again. The number of attempts comes from the task's
/// `maxAttempts`; the policy only decides the delay.
public struct RetryPolicy: Sendable, Hashable {
    /// How randomness spreads exponential delays, so failed tasks do not retry in lock-step.
    public enum Jitter: Sendable, Hashable {
        /// Uniform in `0…d`.
        case full
        /// Uniform in `d/2…d`.
        case equal
        /// Exactly `d`.
        case none
    }

    private enum Kind: Sendable, Hashable {
        case exponential(base: Duration, cap: Duration, jitter: Jitter)
        case fixed(Duration)
        case never
    }

    private let kind: Kind

    /// `base × 2^(attempt−1)`, at most `cap`, spread by `jitter` (never above `cap`).
    public static func exponential(
        base: Duration = .seconds(2), cap: Duration = .seconds(3600), jitter: Jitter = .equal
    ) -> RetryPolicy {
        RetryPolicy(kind: .exponential(base: max(base, .zero), cap: max(cap, .zero), jitter: jitter))
    }

    /// The same delay after every failure.
    public static func fixed(_ delay: Duration) -> RetryPolicy {
        RetryPolicy(kind: .fixed(max(delay, .zero)))
    }

    /// No retries: the first failure sends the task to `dead`.
    public static let none = RetryPolicy(kind: .never)

    /// The contract's default: exponential from about 2 s, capped at 1 h, equal jitter.
    public static let standard = RetryPolicy.exponential()

    /// The delay before the next attempt after attempt number `attempt` (1 for the first) failed,
    /// or `nil` when the policy never retries.
    public func delay(afterAttempt attempt: Int, using random: inout some RandomNumberGenerator) -> Duration? {
        switch kind {
        case .never:
            return nil
        case .fixed(let delay):
            return delay
        case .exponential(let base, let cap, let jitter):
            let exponent = min(max(attempt - 1, 0), 62)
            let raw = min(base.inSeconds * Double(1 << UInt64(exponent)), cap.inSeconds)
            let spread: Double =
                switch jitter {
                case .none: raw
                case .full: Double.random(in: 0...raw, using: &random)
                case .equal: raw / 2 + Double.random(in: 0...(raw / 2), using: &random)
                }
            return Duration(seconds: min(spread, cap.inSeconds), rounding: .down)
        }
    }

    /// ``delay(afterAttempt:using:)`` with the system's random numbers.
    public func delay(afterAttempt attempt: Int) -> Duration? {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }
}
