import Hummingbird
import PrismQ
import Prometheus

/// `/metrics`: the registry's metrics, with the queue's depth, the store's pool counters and
/// (in `prismq serve`) the server's pending and refused writes read fresh at each scrape.
struct MetricsExporter: Sendable {
    let queue: TaskQueue
    let registry: PrometheusCollectorRegistry
    /// The server's back-pressure on writes; `nil` where no queue is served.
    var writeGate: WriteGate?

    /// Answers `GET /metrics` on `router` with ``scrape()``, as Prometheus text.
    func addRoute(to router: Router<BasicRequestContext>) {
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: try await scrape()))
            )
        }
    }

    func scrape() async throws -> String {
        let stats = try await queue.stats()
        for status in TaskStatus.allCases {
            registry.makeGauge(name: "prismq_queue_depth", labels: [("status", status.rawValue)])
                .set(Double(stats.byStatus[status] ?? 0))
        }
        for (type, counts) in stats.byType {
            for status in TaskStatus.allCases {
                registry.makeGauge(
                    name: "prismq_queue_depth_by_type", labels: [("type", type), ("status", status.rawValue)]
                )
                .set(Double(counts[status] ?? 0))
            }
        }
        registry.makeGauge(name: "prismq_oldest_ready_age_seconds").set(stats.oldestReadyAgeSeconds ?? 0)
        // Every type with tasks, so that a type whose ready tasks are gone reads 0, not its
        // last age.
        for type in Set(stats.byType.keys).union(stats.activityByType.keys) {
            registry.makeGauge(name: "prismq_oldest_ready_age_seconds_by_type", labels: [("type", type)])
                .set(stats.activityByType[type]?.oldestReadyAgeSeconds ?? 0)
        }
        registry.makeGauge(name: "prismq_workers", labels: [("state", "active")]).set(Double(stats.activeWorkers))
        registry.makeGauge(name: "prismq_workers", labels: [("state", "stale")]).set(Double(stats.staleWorkers))
        let pool = queue.statistics
        let values: [(String, Int)] = [
            ("read_connections", pool.readConnections), ("write_connections", pool.writeConnections),
            ("reads", pool.reads), ("writes", pool.writes), ("waits", pool.waits), ("errors", pool.errors),
            ("open_connections", pool.openConnections), ("in_use", pool.inUse), ("waiting", pool.waiting),
        ]
        for (name, value) in values {
            registry.makeGauge(name: "prismq_store_" + name).set(Double(value))
        }
        if let writeGate {
            registry.makeGauge(name: "prismq_server_pending_writes").set(Double(writeGate.pending))
            registry.makeGauge(name: "prismq_server_refused_writes").set(Double(writeGate.refused))
        }
        return registry.emitToString()
    }
}
