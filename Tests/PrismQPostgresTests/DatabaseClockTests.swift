import Testing

@testable import PrismQPostgres

/// The database's clock as a store carries it between readings (no server needed).
@Suite("PostgreSQL store: database clock")
struct DatabaseClockTests {
    @Test func aReadingIsCarriedForwardByTheMonotonicClock() async throws {
        let clock = DatabaseClock(refresh: .seconds(3600))  // fresh however slowly the tests run
        #expect(clock.now == nil, "no reading yet: the store asks the server")
        let beforeRecord = ContinuousClock.now
        clock.record(1_000_000)
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
        clock.record(1_000_000)
        try await Task.sleep(for: .milliseconds(25))
        #expect(clock.now == nil, "older than the refresh: the store asks the server again")
    }
}
