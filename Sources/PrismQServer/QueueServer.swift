import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PrismQ
import PrismQWire
import Prometheus
import ServiceLifecycle

/// The PrismQ HTTP server: the REST contract of `rest-api.md` over a ``PrismQ/TaskQueue``,
/// with `/health` and `/openapi.yaml`.
public enum QueueServer {
    /// The router with every route, the error middleware and, with a token, authentication.
    ///
    /// `/metrics` exports `metrics`: bootstrap swift-metrics with a `PrometheusMetricsFactory`
    /// over the same registry to see the task and HTTP metrics there too.
    public static func makeRouter(
        queue: TaskQueue, configuration: ServerConfiguration,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: BrowserGuardMiddleware(configuration: configuration))
        if let token = configuration.token {
            router.add(middleware: AuthMiddleware(token: token))
        }
        let api = QueueAPI(queue: queue, configuration: configuration)
        api.addRoutes(to: router)
        router.get("/health") { _, _ in
            try await health(queue: queue, configuration: configuration, api: api)
        }
        MetricsExporter(queue: queue, registry: metrics, writeGate: api.writeGate).addRoute(to: router)
        let dashboard = dashboardPage
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: dashboard))
            )
        }
        let specification = openAPIDocument
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: specification))
            )
        }
        return router
    }

    /// The server as a `Service`, with `services` (the sweeper, …) run beside it.
    ///
    /// - Throws: `invalidArgument` for a configuration ``ServerConfiguration/validate()`` refuses.
    public static func makeApplication(
        queue: TaskQueue, configuration: ServerConfiguration,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), services: [any Service] = [],
        logger: Logger = Logger(label: "prismq.server"),
        onRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) throws(QueueError) -> some ApplicationProtocol {
        try configuration.validate()
        return Application(
            router: makeRouter(queue: queue, configuration: configuration, metrics: metrics),
            server: .http1(
                configuration: HTTP1Channel.Configuration(
                    idleTimeout: configuration.idleTimeout.map { TimeAmount.nanoseconds(Int64($0.inSeconds * 1e9)) })
            ),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "PrismQ"
            ),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    /// Every route the server answers, as `METHOD path` with `{id}` for the task id.
    public static var routes: [String] { QueueAPI.routes }

    /// The OpenAPI document the server answers `/openapi.yaml` with.
    public static let openAPIDocument = resource("openapi", "yaml")

    /// The dashboard page at `/`: a static page over the JSON API.
    static let dashboardPage = resource("dashboard", "html")

    private static func resource(_ name: String, _ type: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: type, subdirectory: "Resources"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "" }
        return text
    }

    /// `GET /health`: 200 with the pool statistics, the number of waiting long-poll claims and
    /// the writes waiting for the store (and refused so far) while the store answers, else 503.
    static func health(queue: TaskQueue, configuration: ServerConfiguration, api: QueueAPI) async throws -> Response {
        var status = "ok"
        do {
            _ = try await queue.timeUntilReady(capabilities: [])
        } catch {
            status = "unavailable"
        }
        let statistics = queue.statistics
        var pool = JSONWriter()
        pool.add("read_connections", statistics.readConnections)
        pool.add("write_connections", statistics.writeConnections)
        pool.add("reads", statistics.reads)
        pool.add("writes", statistics.writes)
        pool.add("waits", statistics.waits)
        pool.add("errors", statistics.errors)
        pool.add("open_connections", statistics.openConnections)
        pool.add("in_use", statistics.inUse)
        pool.add("waiting", statistics.waiting)
        var database = JSONWriter()
        database.add("url", configuration.databaseURL)
        var writer = JSONWriter()
        writer.add("status", status)
        writer.add("database", raw: database.json)
        writer.add("pool", raw: pool.json)
        writer.add("claim_waiters", api.waitRoom.count)
        writer.add("pending_writes", api.writeGate.pending)
        writer.add("refused_writes", api.writeGate.refused)
        return QueueAPI.json(writer.json, status: status == "ok" ? .ok : .serviceUnavailable)
    }
}
