import PrismQ
import Synchronization

/// The database server's clock as this host knows it: read from the server at most every
/// ``refresh``, and carried forward in between by this host's monotonic clock, so that most
/// calls need no round trip of their own to learn the time. Hosts still agree with each other
/// to within a round trip, however wrong their own wall clocks are, and a jump of this host's
/// wall clock changes nothing (the monotonic clock does not jump).
final class DatabaseClock: Sendable {
    /// How long a reading of the server's clock is carried forward.
    static let refresh = Duration.seconds(5)

    private let reading = Mutex<(millis: Int64, at: ContinuousClock.Instant)?>(nil)

    /// The server's time now, in milliseconds since 1970, when a reading is fresh enough.
    var now: Int64? {
        reading.withLock { reading in
            guard let reading else { return nil }
            let elapsed = ContinuousClock.now - reading.at
            guard elapsed < Self.refresh else { return nil }
            return reading.millis + elapsed.storedMilliseconds
        }
    }

    /// Keeps a reading of the server's clock, taken just now.
    func record(_ millis: Int64) {
        reading.withLock { $0 = (millis, ContinuousClock.now) }
    }
}
