import PrismQPostgres
import Testing

/// Reading a store's settings from its URL (no server needed).
@Suite("PostgreSQL configuration", .timeLimit(.minutes(5)))
struct PostgresConfigurationTests {
    @Test func aURLSetsEveryFieldAndIsDescribedWithoutItsPassword() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://app:s%40cret@db.internal:6543/jobs?schema=q1&sslmode=verify-full"
                + "&max_connections=25&connect_timeout=3")
        #expect(configuration.host == "db.internal" && configuration.port == 6543)
        #expect(configuration.username == "app" && configuration.password == "s@cret")
        #expect(configuration.database == "jobs" && configuration.schema == "q1" && configuration.tls == .verifyFull)
        #expect(configuration.maxConnections == 25 && configuration.connectTimeout == .seconds(3))
        #expect(configuration.description == "postgres://app@db.internal:6543/jobs?schema=q1")

        let defaults = try PostgresConfiguration(url: "postgres://localhost")
        #expect(defaults.maxConnections == 10 && defaults.connectTimeout == .seconds(5) && defaults.tls == .prefer)
    }
}
