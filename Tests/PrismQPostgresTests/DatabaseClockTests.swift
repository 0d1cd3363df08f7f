import Testing

@testable import PrismQPostgres

/// The database's clock as a store carries it between readings (no server needed).
@Suite("PostgreSQL store: database clock")
struct DatabaseClockTests {
    @Test func aReadingIsCarriedForwardByTheMonotonicClock() async throws {
        let clock = DatabaseClock()
        #expect(clock.now == nil, "no reading yet: the store asks the server")
        clock.record(1_000_000)
        try await Task.sleep(for: .milliseconds(30))
        let now = try #require(clock.now)
        #expect((1_000_030...1_002_000).contains(now), "the reading plus the time since: \(now)")
    }
}
