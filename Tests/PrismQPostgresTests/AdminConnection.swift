import Logging
import PostgresNIO
import PrismQPostgres
import Testing

/// A connection of the test's own to the test server, outside any store: to end the store's
/// connections or hold locks its calls must wait for.
struct AdminConnection {
    let connection: PostgresConnection
    private static let logger = Logger(label: "prismq.tests.admin")

    static func open() async throws -> AdminConnection {
        let url = try PrismQPostgres.PostgresConfiguration(url: try #require(testServerURL))
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: .disable),
            id: 1, logger: logger)
        return AdminConnection(connection: connection)
    }

    /// Runs `query` and reads every row.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: Self.logger).collect()
    }

    func close() async throws {
        try await connection.close()
    }

    /// Ends every server process whose connection carries `applicationName`; how many it ended.
    static func terminateBackends(applicationName: String) async throws -> Int {
        let admin = try await open()
        let ended = try await admin.rows(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = \(applicationName)")
        try await admin.close()
        return try ended[0].decode(Int.self)
    }
}
