import PrismQ
import Synchronization

/// The database server's clock as this host knows it: read from the server at most every
/// ``refresh``, and carried forward in between by this host's monotonic clock, so that most
/// calls need no round trip of their own to learn the time. Hosts still agree with each other
/// to within ``slowestKept``, however wrong their own wall clocks are, and a jump of this
/// host's wall clock changes nothing (the monotonic clock does not jump).
///
/// A reading is noted when its answer has been read, so it is late by the answer's trip and by
/// any wait before the reading task ran again; the times given are rounded down, so this host
/// is not ahead of the server. They never go back, unless the server's clock itself was set
/// back by more than ``largestStepBack``.
final class DatabaseClock: Sendable {
    /// How long a reading of the server's clock is carried forward.
    let refresh: Duration
    /// A reading whose round trip took longer (a stalled host, a slow network) is used for its
    /// own call but not kept, so a kept reading is never later than this.
    static let slowestKept = Duration.milliseconds(50)
    /// How far back a new reading may be before the clock follows it back rather than stand
    /// still until the reading catches up (milliseconds).
    static let largestStepBack: Int64 = 1000

    private struct State {
        var reading: (millis: Int64, at: ContinuousClock.Instant)?
        var lastGiven = Int64.min

        /// `estimate`, or the last time given when that is later, by less than a step back.
        mutating func give(_ estimate: Int64) -> Int64 {
            if estimate >= lastGiven || lastGiven - estimate > DatabaseClock.largestStepBack { lastGiven = estimate }
            return lastGiven
        }
    }

    private let state = Locked(State())

    /// A clock without a reading yet, whose readings last `refresh` (5 seconds unless a test says).
    init(refresh: Duration = .seconds(5)) {
        self.refresh = refresh
    }

    /// The server's time now, in milliseconds since 1970, when a reading is fresh enough.
    var now: Int64? {
        state.withLock { state in
            guard let reading = state.reading else { return nil }
            let elapsed = ContinuousClock.now - reading.at
            guard elapsed < refresh else { return nil }
            return state.give(reading.millis + Self.wholeMilliseconds(elapsed))
        }
    }

    /// Notes a reading of the server's clock (`millis`) whose query took `roundTrip`, just
    /// answered, and returns the time to use now.
    func record(_ millis: Int64, roundTrip: Duration) -> Int64 {
        state.withLock { state in
            if roundTrip <= Self.slowestKept { state.reading = (millis, ContinuousClock.now) }
            return state.give(millis)
        }
    }

    /// `duration` in whole milliseconds, rounded down.
    static func wholeMilliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
