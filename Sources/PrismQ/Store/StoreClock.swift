import Foundation
import Synchronization

/// Where a store reads "now" for leases, delays and history: injected through the store's
/// configuration, so that tests move time instead of editing rows.
public protocol StoreClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system's wall clock.
public struct SystemClock: StoreClock {
    /// The system clock.
    public init() {}

    /// `Date()`.
    public func now() -> Date { Date() }
}

extension StoreClock where Self == SystemClock {
    /// The system's wall clock.
    public static var system: SystemClock { SystemClock() }
}

/// A clock that stands still until moved: for tests of leases, delays and backoff.
public final class ManualClock: StoreClock {
    private let current: Mutex<Date>

    /// A clock at `start` (default: a fixed instant in 2026).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_795_338_326)) {
        current = Mutex(start)
    }

    /// The time it shows.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves it forward by `duration`.
    public func advance(by duration: Duration) {
        current.withLock { $0 += duration.inSeconds }
    }
}
