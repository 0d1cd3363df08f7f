import Hummingbird
import Logging
import PrismQ
import Prometheus

/// A loopback listener that answers `GET /metrics` only: how a process that does not serve
/// the queue (`prismq worker`) shows its metrics, the same as `prismq serve`'s `/metrics`.
public enum MetricsEndpoint {
    /// The listener on `127.0.0.1:port` (`0` picks a free port, told to `onRunning`) as a
    /// `Service`. Bootstrap swift-metrics with a `PrometheusMetricsFactory` over `registry` to
    /// see the task metrics there. It answers no other host name (DNS rebinding) and nothing
    /// but `GET /metrics` (404).
    public static func makeApplication(
        queue: TaskQueue, port: Int, registry: PrometheusCollectorRegistry,
        logger: Logger = Logger(label: "prismq.metrics"),
        onRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) throws(QueueError) -> some ApplicationProtocol {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = port
        try configuration.validate()
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: BrowserGuardMiddleware(configuration: configuration))
        MetricsExporter(queue: queue, registry: registry).addRoute(to: router)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "PrismQ"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
