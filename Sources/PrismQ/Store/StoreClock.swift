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

/// A clock that stands still until moved: for tests of leases, delays, backoff and timers.
///
/// It shows a date (a ``StoreClock``, for stores) and, through ``timer``, a Swift `Clock`
/// (for ``WorkerPoolConfiguration/clock``); ``advance(by:)`` moves both and ends the sleeps
/// whose deadline it passes.
public final class ManualClock: StoreClock {
    private struct State {
        var date: Date
        var elapsed = Duration.zero
        var sleepers: [Int: (deadline: Duration, wake: CheckedContinuation<Void, any Error>)] = [:]
        var nextSleeper = 0
    }

    private let state: Locked<State>

    /// A clock at `start` (default: a fixed instant in 2026).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_795_338_326)) {
        state = Locked(State(date: start))
    }

    /// The time it shows.
    public func now() -> Date { state.withLock { $0.date } }

    /// Moves it forward by `duration`, waking the sleeps that are then due.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.date += duration.inSeconds
            state.elapsed += duration
            let due = state.sleepers.filter { $0.value.deadline <= state.elapsed }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.map(\.wake)
        }
        for wake in due { wake.resume() }
    }

    /// Moves the date it shows by `offset`, either way, without moving ``timer``: a jump of the
    /// host's wall clock, which monotonic clocks do not see.
    public func jump(by offset: Duration) {
        state.withLock { $0.date += offset.inSeconds }
    }

    /// This clock as a Swift `Clock`: sleeps on it end when ``advance(by:)`` reaches them.
    public var timer: Timer { Timer(clock: self) }

    /// A ``ManualClock`` as a Swift `Clock`.
    public struct Timer: Clock {
        /// A point on the clock: the time advanced since it was made.
        public struct Instant: InstantProtocol {
            /// The time advanced since the clock was made.
            public var elapsed: Duration

            /// This instant moved by `duration`.
            public func advanced(by duration: Duration) -> Instant { Instant(elapsed: elapsed + duration) }

            /// The time from this instant to `other`.
            public func duration(to other: Instant) -> Duration { other.elapsed - elapsed }

            /// Whether `lhs` comes first.
            public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.elapsed < rhs.elapsed }
        }

        let clock: ManualClock

        /// Now, on the manual clock.
        public var now: Instant { Instant(elapsed: clock.state.withLock { $0.elapsed }) }

        /// Any duration can be slept.
        public var minimumResolution: Duration { .zero }

        /// Sleeps until the clock is advanced to `deadline`, or the task is cancelled.
        public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
            let id = clock.state.withLock { state in
                state.nextSleeper += 1
                return state.nextSleeper
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (wake: CheckedContinuation<Void, any Error>) in
                    let now: Result<Void, any Error>? = clock.state.withLock { state in
                        if Task.isCancelled { return .failure(CancellationError()) }
                        if deadline.elapsed <= state.elapsed { return .success(()) }
                        state.sleepers[id] = (deadline.elapsed, wake)
                        return nil
                    }
                    if let now { wake.resume(with: now) }
                }
            } onCancel: {
                clock.state.withLock { $0.sleepers.removeValue(forKey: id) }?.wake.resume(throwing: CancellationError())
            }
        }
    }
}
