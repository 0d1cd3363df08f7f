import Foundation
import PrismQ
import PrismQConformance
import PrismQPostgres
import Synchronization
import Testing

/// The server `scripts/with-postgres` started (`./scripts/test` runs these tests beside it).
let testServerURL = ProcessInfo.processInfo.environment["PRISMQ_TEST_POSTGRES_URL"]

/// A store in a fresh schema of the test server (thrown away with the server), on `clock`.
/// Its connect timeout is longer than the default: a debug build's SCRAM handshake, on a
/// machine the whole suite keeps busy, can take seconds.
func makePostgresStore(
    clock: ManualClock? = nil, schema: String? = nil, applicationName: String = "prismq-tests", maxConnections: Int = 8,
    connectTimeout: Duration = .seconds(30)
) async throws -> PostgresStore {
    var configuration = try PostgresConfiguration(url: try #require(testServerURL))
    configuration.schema = schema ?? "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    configuration.clock = clock
    configuration.tls = .disable
    configuration.maxConnections = maxConnections
    configuration.applicationName = applicationName
    configuration.connectTimeout = connectTimeout
    return try await .postgres(configuration: configuration)
}

/// The store behaviour suite every store passes, on PostgreSQL: each check in a schema of its own.
@Suite(
    "Store conformance: PostgreSQL", .timeLimit(.minutes(10)),
    .enabled(if: testServerURL != nil, "needs PRISMQ_TEST_POSTGRES_URL"))
struct PostgresConformanceTests {
    @Test(arguments: StoreConformance.checks)
    func postgresStoreConforms(_ check: ConformanceCheck) async throws {
        let stores = StoreList()
        defer { stores.closeAll() }
        try await check.run { clock in
            let store = try await makePostgresStore(clock: clock)
            stores.add(store)
            return store
        }
    }
}

/// The stores a test opened, closed at its end.
final class StoreList: Sendable {
    private let stores = Locked<[PostgresStore]>([])

    func add(_ store: PostgresStore) {
        stores.withLock { $0.append(store) }
    }

    func closeAll() {
        for store in stores.withLock({ $0 }) { store.close() }
    }
}
