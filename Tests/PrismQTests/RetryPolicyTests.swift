import PrismQ
import Testing

@Suite("Retry policy", .timeLimit(.minutes(5)))
struct RetryPolicyTests {
    @Test func exponentialDoublesUpToTheCap() {
        let policy = RetryPolicy.exponential(base: .seconds(2), cap: .seconds(60), jitter: .none)
        var random = SystemRandomNumberGenerator()
        let delays = (1...8).map { policy.delay(afterAttempt: $0, using: &random) }
        #expect(delays == [2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(policy.delay(afterAttempt: 10_000, using: &random) == .seconds(60))
    }

    @Test(arguments: [RetryPolicy.Jitter.full, .equal])
    func jitterStaysWithinItsRangeAndUnderTheCap(jitter: RetryPolicy.Jitter) {
        let policy = RetryPolicy.exponential(base: .seconds(1), cap: .seconds(10), jitter: jitter)
        var random = SystemRandomNumberGenerator()
        for attempt in 1...12 {
            let raw = min(Double(1 << (attempt - 1)), 10)
            var seen = Set<Duration>()
            for _ in 0..<200 {
                let delay = policy.delay(afterAttempt: attempt, using: &random)!
                let lower = jitter == .full ? 0 : raw / 2
                #expect(delay >= .milliseconds(Int64(lower * 1000)) - .milliseconds(1))
                #expect(delay <= .seconds(10) && delay <= .milliseconds(Int64(raw * 1000)))
                seen.insert(delay)
            }
            #expect(seen.count > 1, "jitter spreads the delays")
        }
    }

    @Test func fixedAndNone() {
        var random = SystemRandomNumberGenerator()
        #expect(RetryPolicy.fixed(.seconds(3)).delay(afterAttempt: 7, using: &random) == .seconds(3))
        #expect(RetryPolicy.none.delay(afterAttempt: 1) == nil)
        let standard = RetryPolicy.standard.delay(afterAttempt: 1)!
        #expect(standard >= .seconds(1) && standard <= .seconds(2), "the contract's 'about 2 s' first delay")
    }

    @Test func strategiesParseByTheirContractNames() throws {
        #expect(try SchedulingStrategy(parsing: "weighted_random") == .weightedRandom)
        #expect(try SchedulingStrategy(parsing: "Weighted-Random") == .weightedRandom)
        #expect(SchedulingStrategy.allCases.map(\.rawValue) == ["fifo", "lifo", "priority", "weighted_random"])
        #expect(throws: QueueError(.invalidArgument)) { try SchedulingStrategy(parsing: "random") }
    }
}
