import Foundation
import PrismQ
import PrismQSQLite
import PrismQTerminal

extension BenchCommand {
    /// The load section's tables: the sustained mixed load (medians over the runs), the last
    /// run's memory and WAL over time, and idle connections with a stalled writer.
    func load(_ pragmas: SQLitePragmaProfile, processes: BenchProcesses) async throws -> [BenchTable] {
        let bench = BenchLoad(processes: processes)
        let seconds = loadSeconds ?? (quick ? 5 : 60)
        let rate = loadRate ?? (quick ? 200 : 1000)
        var runs: [BenchLoad.Sustained] = []
        for run in 1...self.runs {
            progress(
                "[load] \(rate) enqueues/s offered for \(seconds) s with workers and a dashboard, run \(run)/\(self.runs)"
            )
            runs.append(
                try await Self.withFreshStore(pragmas) { store in
                    try await bench.sustained(store, rate: rate, for: .seconds(seconds))
                })
        }
        let openFiles = OpenFileLimit.raiseToHardLimit()
        signal(SIGPIPE, SIG_IGN)  // a connection the server closed fails its write, not the bench
        let idleCount = min(quick ? 1000 : 10_000, openFiles - 200)
        var idle: [BenchLoad.Idle] = []
        var stalls: [BenchLoad.Stall] = []
        let (burst, limit) = quick ? (200, 100) : (2000, 1024)
        for run in 1...self.runs {
            progress("[load] \(idleCount) idle connections, run \(run)/\(self.runs)")
            idle.append(
                try await Self.withFreshStore(pragmas) { store in
                    try await bench.idleConnections(store, count: idleCount)
                })
            progress("[load] \(burst) enqueues at once against a stalled writer, run \(run)/\(self.runs)")
            stalls.append(
                try await Self.withFreshStore(pragmas) { store in
                    try await bench.stalledWriter(store, burst: burst, limit: limit)
                })
        }
        return [
            sustainedTable(runs, rate: rate, seconds: seconds), overTimeTable(runs.last!),
            connectionsTable(idle, stalls),
        ]
    }

    private func sustainedTable(_ runs: [BenchLoad.Sustained], rate: Int, seconds: Int) -> BenchTable {
        var table = BenchTable(
            key: "load",
            title:
                "SUSTAINED MIXED LOAD (prismq serve, \(seconds) s: 4 producers offer \(rate) enqueues/s; 4 HTTP "
                + "workers claim up to 4 and complete each; a dashboard reads 4 routes 4× a second)",
            columns: [
                ("REQUEST", "request"), ("PER SECOND", "per_second"), ("P50 MS", "p50_ms"), ("P99 MS", "p99_ms"),
                ("MAX MS", "max_ms"), ("ERRORS", "errors"),
            ])
        for kind in BenchLoad.Kind.allCases {
            let outcomes = runs.map { $0.outcomes[kind] ?? BenchLoad.Outcomes() }
            let percentiles = outcomes.map { BenchLatency.percentiles($0.latencies) }
            table.rows.append([
                .text(kind.rawValue),
                .number(
                    Self.median(zip(outcomes, runs).map { Double($0.latencies.count) / Self.seconds($1.elapsed) }),
                    digits: 0),
                .number(Self.median(percentiles.map { $0[0] }), digits: 2),
                .number(Self.median(percentiles.map { $0[2] }), digits: 2),
                .number(outcomes.compactMap { $0.latencies.max() }.max() ?? .nan, digits: 1),
                .number(Double(outcomes.map(\.errors).reduce(0, +)), digits: 0),
            ])
        }
        let tally = runs.map { "\($0.acknowledged)/\($0.stored)/\($0.completed)" }.joined(separator: ", ")
        table.note =
            "Medians of \(runs.count) runs; an enqueue's time counts from when it was due. Acknowledged/stored/"
            + "completed tasks per run: \(tally). PER SECOND counts the drain after the producers stop."
        return table
    }

    private func overTimeTable(_ run: BenchLoad.Sustained) -> BenchTable {
        var table = BenchTable(
            key: "load_over_time", title: "SERVER MEMORY AND WAL OVER TIME (the last run)",
            columns: [
                ("SECOND", "second"), ("REQUESTS/S", "requests_per_second"), ("RSS MB", "rss_mb"),
                ("ANON MB", "anonymous_mb"), ("DATABASE MB", "database_mb"), ("WAL MB", "wal_mb"),
            ])
        let step = max(1, run.samples.count / 12)
        var previous: BenchLoad.Sample?
        for (index, sample) in run.samples.enumerated() where index % step == 0 || index == run.samples.count - 1 {
            let rate = previous.map { Double(sample.requests - $0.requests) / max(1e-9, sample.seconds - $0.seconds) }
            table.rows.append([
                .number(sample.seconds, digits: 0), rate.map { .number($0, digits: 0) } ?? .none,
                .number(sample.residentMB, digits: 1), .number(sample.anonymousMB, digits: 1),
                .number(sample.databaseMB, digits: 1), .number(sample.walMB, digits: 1),
            ])
            previous = sample
        }
        let resident = run.samples.map(\.residentMB)
        let (head, tail) = (Array(resident.prefix(10)), Array(resident.suffix(10)))
        if !head.isEmpty {
            table.note = String(
                format: "RSS: median of the first 10 samples %.1f MB, of the last 10 %.1f MB, highest %.1f MB; "
                    + "WAL highest %.1f MB.",
                Self.median(head), Self.median(tail), resident.max() ?? 0, run.samples.map(\.walMB).max() ?? 0)
        }
        return table
    }

    private func connectionsTable(_ idle: [BenchLoad.Idle], _ stalls: [BenchLoad.Stall]) -> BenchTable {
        let median = { (values: [Double]) in Self.median(values) }
        let count = idle[0].connections
        let perConnection = idle.map { ($0.residentWithMB[0] - $0.residentBeforeMB) * 1024 / Double(count) }
        let latencies = idle.map { BenchLatency.percentiles($0.enqueueLatencies) }
        // The run whose burst settled in the median time: its counts go together.
        let stall = stalls.sorted { $0.refusedWithinMS < $1.refusedWithinMS }[stalls.count / 2]
        var table = BenchTable(
            key: "load_connections", title: "IDLE CONNECTIONS AND A STALLED WRITER (medians of \(idle.count) runs)",
            columns: [("MEASURE", "measure"), ("VALUE", "value"), ("UNIT", "unit")])
        table.rows = [
            [.text("server RSS before"), .number(median(idle.map(\.residentBeforeMB)), digits: 1), .text("MB")],
            [
                .text("server RSS with \(count) idle connections"),
                .number(median(idle.map { $0.residentWithMB[0] }), digits: 1), .text("MB"),
            ],
            [.text("per idle connection"), .number(median(perConnection), digits: 1), .text("KiB")],
            [
                .text("enqueue p50 / p99 meanwhile, one at a time"),
                .text(String(format: "%.2f / %.2f", median(latencies.map { $0[0] }), median(latencies.map { $0[2] }))),
                .text("ms"),
            ],
            [
                .text("server RSS after they close"), .number(median(idle.map { $0.residentAfterMB[0] }), digits: 1),
                .text("MB"),
            ],
            [
                .text("server RSS with \(count) again, and after they close"),
                .text(
                    String(
                        format: "%.1f / %.1f", median(idle.map { $0.residentWithMB[1] }),
                        median(idle.map { $0.residentAfterMB[1] }))), .text("MB"),
            ],
            [
                .text(
                    "burst of \(stall.burst) enqueues, writer stalled, --max-pending-writes \(stall.limit): waited, then committed"
                ),
                .number(Double(stall.committed), digits: 0), .text("requests"),
            ],
            [.text("… refused at once with 503 busy"), .number(Double(stall.refused), digits: 0), .text("requests")],
            [.text("… other answers"), .number(Double(stall.other), digits: 0), .text("requests")],
            [
                .text("… most writes waiting (/health, that run)"), .number(Double(stall.mostPending), digits: 0),
                .text("writes"),
            ],
            [
                .text("… all answered or waiting within"), .number(median(stalls.map(\.refusedWithinMS)), digits: 0),
                .text("ms"),
            ],
            [.text("… server RSS at most"), .number(median(stalls.map(\.residentPeakMB)), digits: 1), .text("MB")],
        ]
        return table
    }
}
