import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PrismQ
import PrismQHarness
import PrismQPostgres
import PrismQSQLite
import PrismQServer
import Prometheus
import Testing

/// A queue behind the server's router, for router tests: on a temporary SQLite file, or, when
/// `PRISMQ_TEST_SERVER_STORE` is `postgres`, in a fresh schema of the PostgreSQL server at
/// `PRISMQ_TEST_POSTGRES_URL` (`./scripts/test` runs the suite both ways).
struct APITester {
    let directory: String
    let queue: TaskQueue
    var configuration: ServerConfiguration
    private let postgres: PostgresStore?
    private let postgresSettings: PostgresConfiguration?

    /// The SQLite file of the queue (unused when the queue is on PostgreSQL).
    var sqlitePath: String { directory + "/queue.db" }
    /// Whether the queue is on PostgreSQL (`PRISMQ_TEST_SERVER_STORE=postgres`).
    static var onPostgres: Bool { ProcessInfo.processInfo.environment["PRISMQ_TEST_SERVER_STORE"] == "postgres" }

    init(
        token: String? = nil, maxPayloadBytes: Int = 1 << 20, sqlite: SQLiteConfiguration = SQLiteConfiguration()
    ) async throws {
        directory = NSTemporaryDirectory() + "prismq-api-" + UUID().uuidString
        var rules = TaskQueueConfiguration()
        rules.limits.maxPayloadBytes = maxPayloadBytes
        rules.retryPolicy = .fixed(.zero)
        var configuration = ServerConfiguration()
        configuration.token = token
        let environment = ProcessInfo.processInfo.environment
        if Self.onPostgres {
            var settings = try PostgresConfiguration(url: try #require(environment["PRISMQ_TEST_POSTGRES_URL"]))
            settings.schema = "api_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            settings.tls = .disable
            let store = try await PostgresStore(configuration: settings)
            postgres = store
            postgresSettings = settings
            queue = TaskQueue(store: store, configuration: rules)
            configuration.databaseURL = settings.description
        } else {
            postgres = nil
            postgresSettings = nil
            queue = TaskQueue(
                store: try SQLiteStore(path: directory + "/queue.db", configuration: sqlite), configuration: rules)
            configuration.databaseURL = "sqlite://" + directory + "/queue.db"
        }
        self.configuration = configuration
    }

    /// Runs `body` with a queue on a store of its own over the same database: another
    /// process's connections, whose commits the server learns of only through its commit watch
    /// (SQLite) or `LISTEN` (PostgreSQL).
    func withOtherProcess(_ body: (TaskQueue) async throws -> Void) async throws {
        if let postgresSettings {
            let store = try await PostgresStore(configuration: postgresSettings)
            defer { store.close() }
            try await body(TaskQueue(store: store))
        } else {
            try await body(TaskQueue(store: try SQLiteStore(path: sqlitePath)))
        }
    }

    /// A response: its status, headers and body parsed as JSON (when it is).
    struct Reply: @unchecked Sendable {  // `json` holds Foundation values, read on one task only.
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var text: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var tasks: [[String: Any]] { json["tasks"] as? [[String: Any]] ?? [] }
    }

    /// Runs `body` with a client of the router.
    func run(
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        _ body: @Sendable (Client) async throws -> Void
    ) async throws {
        let application = Application(
            router: QueueServer.makeRouter(queue: queue, configuration: configuration, metrics: metrics)
        )
        defer {
            postgres?.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        try await application.test(.live) { client in try await body(Client(client: client)) }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        /// The port the live server listens on.
        var port: Int { client.port ?? 0 }

        /// Sends a long-poll claim as `worker` on a connection of its own, and returns the
        /// connection: its answer comes when the claim ends.
        func waitingClaim(worker: String, waitSeconds: Int) throws -> RawHTTPConnection {
            let connection = try RawHTTPConnection(port: port)
            connection.send(
                "POST", "/queue/claim", headers: ["Content-Type: application/json"],
                body: #"{"worker_id":"\#(worker)","wait_seconds":\#(waitSeconds)}"#)
            return connection
        }

        /// The number of long-poll claims waiting, as `/health` says.
        func claimWaiters() async throws -> Int { try await health("claim_waiters") }

        /// A count `/health` gives (`claim_waiters`, `pending_writes`, …); -1 when it has none.
        func health(_ field: String) async throws -> Int {
            try await get("/health").json[field] as? Int ?? -1
        }

        func request(
            _ method: HTTPRequest.Method, _ uri: String, body: String? = nil,
            headers: HTTPFields = [.contentType: "application/json"]
        ) async throws -> Reply {
            try await client.execute(
                uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
            ) {
                response in
                Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
            }
        }

        func post(
            _ uri: String, _ body: String = "{}", headers: HTTPFields = [.contentType: "application/json"]
        )
            async throws -> Reply
        {
            try await request(.post, uri, body: body, headers: headers)
        }

        func get(_ uri: String, headers: HTTPFields = [:]) async throws -> Reply {
            try await request(.get, uri, headers: headers)
        }
    }
}
