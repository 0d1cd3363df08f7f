import PrismQ
import PrismQConformance
import PrismQSQLite
import Testing

/// The store behaviour suite every store passes, on SQLite.
@Suite("Store conformance: SQLite", .timeLimit(.minutes(10)))
struct ConformanceTests {
    @Test(arguments: StoreConformance.checks)
    func sqliteStoreConforms(_ check: ConformanceCheck) async throws {
        let directory = TemporaryDirectory()
        try await check.run { clock in
            var configuration = SQLiteConfiguration()
            configuration.clock = clock
            return try SQLiteStore(path: directory.file("queue.db"), configuration: configuration)
        }
    }
}
