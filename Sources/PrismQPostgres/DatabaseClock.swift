import PrismQ
import Synchronization

/// The database server's clock as this host knows it: read from the server at most every
/// ``refresh``, and carried forward in between by this host's monotonic clock, so that most
/// calls need no round trip of their own to learn the time. Hosts still agree with each other
/// to within a round trip, however wrong their own wall clocks are, and a jump of this host's
/// wall clock changes nothing (the monotonic clock does not jump).
final class DatabaseClock: Sendable {
    /// How long a reading of the server's clock is carried forward.
    let refresh: Duration

    private let reading = Mutex<(millis: Int64, at: ContinuousClock.Instant)?>(nil)

    /// A clock without a reading yet, whose readings last `refresh` (5 seconds unless a test says).
    init(refresh: Duration = .seconds(5)) {
        self.refresh = refresh
    }

    /// The server's time now, in milliseconds since 1970, when a reading is fresh enough.
    var now: Int64? {
        reading.withLock { reading in
            guard let reading else { return nil }
            let elapsed = ContinuousClock.now - reading.at
            guard elapsed < refresh else { return nil }
            // Rounded down, so that this host is never ahead of the server: a task it makes ready
            // now is ready by the server's clock at once.
            return reading.millis + Self.wholeMilliseconds(elapsed)
        }
    }

    /// `duration` in whole milliseconds, rounded down.
    static func wholeMilliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Keeps a reading of the server's clock, taken just now.
    func record(_ millis: Int64) {
        reading.withLock { $0 = (millis, ContinuousClock.now) }
    }
}
