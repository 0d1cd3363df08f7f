import Testing

@testable import PrismQPostgres

/// The database's clock as a store carries it between readings (no server needed).
@Suite("PostgreSQL store: database clock", .timeLimit(.minutes(5)))
struct DatabaseClockTests {
    @Test func aReadingIsCarriedForwardByTheMonotonicClock() async throws {
        let clock = DatabaseClock(refresh: .seconds(3600))  // fresh however slowly the tests run
        #expect(clock.now == nil, "no reading yet: the store asks the server")
        let beforeRecord = ContinuousClock.now
        _ = clock.record(1_000_000, roundTrip: .zero)
        let afterRecord = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(30))
        let beforeRead = ContinuousClock.now
        let now = try #require(clock.now)
        let afterRead = ContinuousClock.now
        // The time since the reading lies between these, however slow the machine is.
        let least = 1_000_000 + DatabaseClock.wholeMilliseconds(beforeRead - afterRecord)
        let most = 1_000_000 + DatabaseClock.wholeMilliseconds(afterRead - beforeRecord)
        #expect(least >= 1_000_030)
        #expect((least...most).contains(now), "the reading plus the time since, rounded down: \(now)")
    }

    @Test func aStaleReadingIsNotUsed() async throws {
        let clock = DatabaseClock(refresh: .milliseconds(20))
        _ = clock.record(1_000_000, roundTrip: .zero)
        try await Task.sleep(for: .milliseconds(25))
        #expect(clock.now == nil, "older than the refresh: the store asks the server again")
    }
}

extension DatabaseClockTests {
    @Test func aSlowReadingIsUsedOnceAndNotKept() {
        let clock = DatabaseClock(refresh: .seconds(3600))
        #expect(clock.record(1_000_000, roundTrip: .milliseconds(200)) == 1_000_000)
        #expect(clock.now == nil, "its call used it; the next call asks again")
    }

    @Test func timeNeverGoesBackByLessThanAStep() {
        let clock = DatabaseClock(refresh: .seconds(3600))
        let first = clock.record(1_000_000, roundTrip: .zero)
        // A reading that came back later than the one before it (another call's, delayed).
        #expect(clock.record(999_990, roundTrip: .zero) == first, "stands still instead")
        #expect(clock.now! >= first)
        // The server's clock set back by an hour: followed.
        #expect(clock.record(1_000_000 - 3_600_000, roundTrip: .zero) == 1_000_000 - 3_600_000)
    }
}
