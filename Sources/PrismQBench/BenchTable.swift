import Foundation
import PrismQ
import PrismQTerminal

/// One table of `prismq bench`'s report, printed as text or as JSON.
struct BenchTable {
    /// A cell: text, a number shown with `digits` decimals, or nothing.
    enum Value {
        case text(String)
        case number(Double, digits: Int)
        case none

        var text: String {
            switch self {
            case .text(let text): text
            case .number(let value, let digits): String(format: "%.\(digits)f", value)
            case .none: "-"
            }
        }

        var json: String {
            switch self {
            case .text(let text): JSONText.quoted(text)
            case .number(let value, let digits):
                value.isFinite ? String(format: "%.\(digits)f", value) : "null"
            case .none: "null"
            }
        }
    }

    /// The table's key in the JSON report.
    var key: String
    /// Its heading in the text report.
    var title: String
    /// Each column's heading and JSON key.
    var columns: [(header: String, key: String)]
    var rows: [[Value]] = []
    /// A line printed under the table.
    var note: String?

    var text: String {
        let table = Formatting.table(header: columns.map(\.header), rows: rows.map { $0.map(\.text) })
        return "\(title)\n\(table)" + (note.map { "\n\($0)" } ?? "")
    }

    var json: String {
        JSONText.array(
            rows.map { row in
                "{" + zip(columns, row).map { JSONText.quoted($0.key) + ":" + $1.json }.joined(separator: ",") + "}"
            })
    }
}

extension BenchTable {
    /// The throughput table: each scenario's median rate over its runs, their spread (lowest
    /// and highest), and the ratio of the median to its baseline's.
    static func throughput(
        title: String, scenarios: [(name: String, baseline: String?, operations: Int)], rates: [String: [Double]]
    ) -> BenchTable {
        var table = BenchTable(
            key: "throughput", title: title,
            columns: [
                ("SCENARIO", "name"), ("OPS", "operations"), ("PER SECOND", "median_per_second"),
                ("LOWEST", "lowest_per_second"), ("HIGHEST", "highest_per_second"),
                ("VS BASELINE", "ratio_to_baseline"), ("BASELINE", "baseline"),
            ])
        let medians = rates.mapValues(BenchCommand.median)
        for scenario in scenarios {
            let runs = rates[scenario.name]!
            let rate = medians[scenario.name]!
            let ratio = scenario.baseline.flatMap { medians[$0] }.map { rate / $0 }
            table.rows.append([
                .text(scenario.name), .number(Double(scenario.operations), digits: 0), .number(rate, digits: 0),
                .number(runs.min()!, digits: 0), .number(runs.max()!, digits: 0),
                ratio.map { .number($0, digits: 2) } ?? .none, scenario.baseline.map { .text($0) } ?? .none,
            ])
        }
        return table
    }

    /// The enqueue→start latency table, one row per worker and offered rate, from `measure`'s
    /// samples (milliseconds) over `runs` runs: the medians of each run's percentiles.
    static func latency<Worker>(
        title: String, workers: [(String, Worker)], rates: [Int], seconds: Double, runs: Int,
        progress: (String) -> Void, measure: (Worker, _ rate: Int, _ count: Int) async throws -> [Double]
    ) async throws -> BenchTable {
        var table = BenchTable(
            key: "latency", title: title,
            columns: [
                ("WORKER", "worker"), ("OFFERED/S", "offered_per_second"), ("TASKS", "tasks"), ("P50 MS", "p50_ms"),
                ("P95 MS", "p95_ms"), ("P99 MS", "p99_ms"),
            ])
        for (name, worker) in workers {
            for rate in rates {
                let count = Int(Double(rate) * seconds)
                var percentiles: [[Double]] = []
                for run in 1...runs {
                    progress("[latency] \(name), \(rate)/s offered, run \(run)/\(runs)")
                    percentiles.append(BenchLatency.percentiles(try await measure(worker, rate, count)))
                }
                let medians = (0..<3).map { index in BenchCommand.median(percentiles.map { $0[index] }) }
                table.rows.append(
                    [.text(name), .number(Double(rate), digits: 0), .number(Double(count), digits: 0)]
                        + medians.map { .number($0, digits: 2) })
            }
        }
        return table
    }

    /// The claims-by-depth table: each claimer's rate at a small and a large queue.
    static func claimDepth(
        title: String, small: Int, large: Int, smallRates: [(name: String, rate: Double)],
        largeRates: [(name: String, rate: Double)]
    ) -> BenchTable {
        var table = BenchTable(
            key: "claim_depth", title: title,
            columns: [
                ("STRATEGY", "strategy"), ("AT \(small)", "at_small"), ("AT \(large)", "at_large"),
                ("LARGE / SMALL", "ratio"),
            ])
        table.note = "small = \(small) queued tasks, large = \(large); each claimed task is replaced (untimed)"
        for (small, large) in zip(smallRates, largeRates) {
            table.rows.append([
                .text(small.name), .number(small.rate, digits: 0), .number(large.rate, digits: 0),
                .number(large.rate / small.rate, digits: 2),
            ])
        }
        return table
    }
}
