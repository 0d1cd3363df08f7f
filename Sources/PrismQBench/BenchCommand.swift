import ArgumentParser
import Foundation
import PrismQ
import PrismQPostgres
import PrismQSQLite
import PrismQWire

/// `prismq bench`: PrismQ's figures beside the raw-SQLite limit, measured in one run.
package struct BenchCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure PrismQ beside the raw-SQLite baseline on temporary databases.",
        discussion: """
            Sections: throughput (each PrismQ figure with its ratio to the raw-SQLite baseline \
            of the same run), latency (enqueue→start, in process and across processes), \
            claim-depth (claims/s at a small and a large queue, per strategy), fairness \
            (weighted random's shares against the weights), profiles (the \
            PRAGMA profiles side by side), resources (idle worker CPU, server memory), backup \
            (online backups under a producer's load: the backup API beside VACUUM INTO), with \
            --server, http (prismq serve on loopback under keep-alive connections) and, asked for \
            by name, load (prismq serve under a sustained mixed load for --load-seconds, its \
            memory and WAL over time; 10,000 idle connections; a burst against a stalled writer). \
            Every figure is the median of --runs runs, each scenario on a fresh temporary \
            database. --quick runs small counts (seconds, for CI); the full run takes minutes.
            """
    )

    /// The sections, in the order they run.
    static let sectionNames = [
        "throughput", "latency", "claim-depth", "fairness", "profiles", "resources", "backup", "http", "load",
    ]

    @Flag(name: .long, help: "Small counts: a smoke run of a few seconds.")
    var quick = false

    @Option(name: .long, help: "Runs per figure (the median is reported).")
    var runs: Int = 3

    @Option(name: .long, help: "PRAGMA profile of the databases (the profiles section runs every profile).")
    var profile: String = "balanced"

    @Option(name: .long, help: "Comma-separated sections to run: \(sectionNames.joined(separator: ", ")).")
    var sections: String = defaultSections

    @Flag(name: .long, help: "Also run the http section: a prismq serve process on loopback.")
    var server = false

    @Option(name: .long, help: "How long the load section holds its sustained load, in seconds (--quick: 5).")
    var loadSeconds: Int?

    @Option(name: .long, help: "The enqueues per second the load section offers (--quick: 200).")
    var loadRate: Int?

    @Option(name: .long, help: "Run only the throughput scenarios whose name contains this text (and their baselines).")
    var only: String?

    @Flag(name: .long, help: "Print the results as JSON.")
    var json = false

    @Option(
        name: .long,
        help: """
            A postgres:// URL: measure the PostgreSQL store there instead (throughput, latency and \
            claim-depth, beside a raw PostgreSQL baseline), each run in a schema of its own that \
            is dropped afterwards.
            """)
    var db: String?

    /// The command with every default (ArgumentParser fills in the options).
    package init() {}

    package func validate() throws {
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be between 1 and 50.") }
        let unknown = chosenSections.filter { !Self.sectionNames.contains($0) }
        guard unknown.isEmpty else {
            throw ValidationError(
                "Unknown section \(unknown[0]); use \(Self.sectionNames.joined(separator: ", ")).")
        }
        do { _ = try SQLitePragmaProfile.named(profile) } catch { throw ValidationError(error.message) }
        guard (1...86_400).contains(loadSeconds ?? 1) else {
            throw ValidationError("--load-seconds must be between 1 and 86400.")
        }
        guard (1...100_000).contains(loadRate ?? 1) else {
            throw ValidationError("--load-rate must be between 1 and 100000.")
        }
        if let db {
            do { _ = try PostgresConfiguration(url: db) } catch { throw ValidationError(error.message) }
            guard !server && only == nil else {
                throw ValidationError("--server and --only measure the SQLite store; leave them out with --db.")
            }
            let other = chosenSections.filter { !PostgresBench.sections.contains($0) }
            guard other.isEmpty || sections == Self.defaultSections else {
                throw ValidationError(
                    "On PostgreSQL, bench runs \(PostgresBench.sections.joined(separator: ", ")); not \(other[0]).")
            }
        }
    }

    private static let defaultSections = sectionNames.filter { $0 != "http" && $0 != "load" }.joined(separator: ",")

    private var chosenSections: [String] {
        sections.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } + (server ? ["http"] : [])
    }

    package func run() async throws {
        let pragmas = try SQLitePragmaProfile.named(profile)
        let processes = BenchProcesses(profile: pragmas)
        let scale = quick ? 1 : 10
        var tables: [BenchTable] = []
        if let db {
            let bench = PostgresBench(
                server: try PostgresConfiguration(url: db), runs: runs, quick: quick, processes: processes,
                progress: progress)
            for section in PostgresBench.sections where chosenSections.contains(section) {
                switch section {
                case "throughput": tables.append(try await bench.throughput())
                case "latency": tables.append(try await bench.latency())
                default: tables.append(try await bench.claimDepth())
                }
            }
            return report(tables, errors: processes.storeErrorCount, on: bench.server.description)
        }
        for section in Self.sectionNames where chosenSections.contains(section) {
            switch section {
            case "throughput": tables.append(try await throughput(pragmas, processes: processes, scale: scale))
            case "latency": tables.append(try await latency(pragmas, processes: processes))
            case "claim-depth": tables.append(try await claimDepth(pragmas))
            case "fairness": tables.append(try await fairness(pragmas))
            case "profiles": tables.append(try await profiles(processes: processes, scale: scale))
            case "resources": tables.append(try await resources(pragmas, processes: processes))
            case "backup": tables.append(try await backup(pragmas))
            case "load": tables += try await load(pragmas, processes: processes)
            default: tables.append(try await http(pragmas, processes: processes))
            }
        }
        report(tables, errors: processes.storeErrorCount, on: nil)
    }

    /// Prints the tables, as text or JSON; `database` names a PostgreSQL server measured.
    private func report(_ tables: [BenchTable], errors: Int, on database: String?) {
        progress(nil)
        if json {
            var writer = JSONWriter()
            writer.add("database", database ?? "sqlite")
            writer.add("profile", profile)
            writer.add("runs", runs)
            writer.add("quick", quick)
            writer.add("worker_process_store_errors", errors)
            for table in tables { writer.add(table.key, raw: table.json) }
            print(writer.json)
        } else {
            print("\(database ?? "profile " + profile), median of \(runs) runs, each on a fresh database\n")
            print(tables.map(\.text).joined(separator: "\n\n"))
            print("\nbusy or storage errors in worker processes: \(errors)")
        }
    }

    // MARK: Sections

    private func throughput(
        _ pragmas: SQLitePragmaProfile, processes: BenchProcesses, scale: Int
    ) async throws -> BenchTable {
        let scenarios = BenchScenario.select(BenchScenario.all(scale: scale, processes: processes), matching: only)
        let rates = try await measure(scenarios, pragmas, label: "throughput")
        return BenchTable.throughput(
            title: "THROUGHPUT (\(pragmas.name))", scenarios: scenarios.map { ($0.name, $0.baseline, $0.operations) },
            rates: rates)
    }

    private func latency(_ pragmas: SQLitePragmaProfile, processes: BenchProcesses) async throws -> BenchTable {
        let seconds = quick ? 0.3 : 3.0
        let measures: [(String, (SQLiteStore, Int, Int) async throws -> [Double])] = [
            ("in process (pool of 16)", { try await BenchLatency.inProcess($0, rate: $1, count: $2) }),
            ("another process (pool of 16)", { try await processes.crossProcessLatencies($0, rate: $1, count: $2) }),
        ]
        return try await BenchTable.latency(
            title: "ENQUEUE→START LATENCY (tasks offered for \(seconds) s at each rate)", workers: measures,
            rates: [100, 1000], seconds: seconds, runs: runs, progress: progress
        ) { measure, rate, count in
            try await Self.withFreshStore(pragmas) { store in try await measure(store, rate, count) }
        }
    }

    private func claimDepth(_ pragmas: SQLitePragmaProfile) async throws -> BenchTable {
        let (small, large) = (1000, quick ? 20_000 : 1_000_000)
        let claims = quick ? 200 : 2000
        let smallRates = try await BenchDepth.claimRates(
            depth: small, claims: claims, runs: runs, profile: pragmas, progress: progress)
        let largeRates = try await BenchDepth.claimRates(
            depth: large, claims: claims, runs: runs, profile: pragmas, progress: progress)
        return BenchTable.claimDepth(
            title: "CLAIMS PER SECOND BY QUEUE DEPTH (one task per claim, one transaction each; PrismQ names 4 types)",
            small: small, large: large, smallRates: smallRates, largeRates: largeRates)
    }

    private func fairness(_ pragmas: SQLitePragmaProfile) async throws -> BenchTable {
        let (claims, perClass) = quick ? (1000, 250) : (10_000, 1000)
        var claimed = [Int](repeating: 0, count: BenchFairness.weights.count)
        var firstClaims: [[Int]] = Array(repeating: [], count: BenchFairness.weights.count)
        for run in 1...runs {
            progress("[fairness] \(claims) weighted-random claims, run \(run)/\(runs)")
            let shares = try await Self.withFreshStore(pragmas) { store in
                try await BenchFairness.shares(store, claims: claims, perClass: perClass)
            }
            for (index, share) in shares.enumerated() {
                claimed[index] += share.claimed
                firstClaims[index].append(share.firstClaim ?? claims)
            }
        }
        let total = Double(claimed.reduce(0, +))
        let weightSum = Double(BenchFairness.weights.reduce(0, +))
        var table = BenchTable(
            key: "fairness",
            title:
                "WEIGHTED RANDOM: SHARE OF \(Int(total)) CLAIMS BY WEIGHT (\(runs) runs of \(claims); "
                + "\(perClass) tasks of each weight kept queued, each claim replaced)",
            columns: [
                ("WEIGHT", "weight"), ("EXPECTED", "expected_share"), ("MEASURED", "measured_share"),
                ("FIRST CLAIM (WORST RUN)", "first_claim_worst_run"),
            ]
        )
        var chiSquare = 0.0
        for (index, weight) in BenchFairness.weights.enumerated() {
            let expected = Double(weight) / weightSum
            let measured = Double(claimed[index]) / max(1, total)
            chiSquare += pow(Double(claimed[index]) - expected * total, 2) / (expected * total)
            table.rows.append([
                .number(Double(weight), digits: 0), .number(expected, digits: 4), .number(measured, digits: 4),
                .number(Double(firstClaims[index].max() ?? 0), digits: 0),
            ])
        }
        table.note = String(
            format: "chi-square %.2f with 3 degrees of freedom (7.81 is the 5%% critical value)", chiSquare)
        return table
    }

    private func profiles(processes: BenchProcesses, scale: Int) async throws -> BenchTable {
        let names = [
            "raw insert, 1 row per transaction", "enqueue, 16 producers", "claim + complete, in-process pool of 16",
        ]
        let scenarios = BenchScenario.all(scale: scale, processes: processes).filter { names.contains($0.name) }
        var table = BenchTable(
            key: "profiles", title: "PRAGMA PROFILES",
            columns: [
                ("PROFILE", "profile"), ("SYNCHRONOUS", "synchronous"), ("RAW INSERT/S", "raw_insert_per_second"),
                ("ENQUEUE x16/S", "enqueue_16_per_second"), ("VS RAW", "enqueue_16_ratio"),
                ("POOL/S", "pool_per_second"),
            ]
        )
        for pragmas in SQLitePragmaProfile.all {
            let medians = try await measure(scenarios, pragmas, label: "profiles, \(pragmas.name)").mapValues(
                Self.median)
            let raw = medians[names[0]]!
            table.rows.append([
                .text(pragmas.name), .text(pragmas.synchronous == .full ? "FULL" : "NORMAL"), .number(raw, digits: 0),
                .number(medians[names[1]]!, digits: 0), .number(medians[names[1]]! / raw, digits: 2),
                .number(medians[names[2]]!, digits: 0),
            ])
        }
        return table
    }

    private func resources(_ pragmas: SQLitePragmaProfile, processes: BenchProcesses) async throws -> BenchTable {
        let queued = quick ? 10_000 : 1_000_000
        var table = BenchTable(
            key: "resources", title: "RESOURCES",
            columns: [("MEASURE", "measure"), ("VALUE", "value"), ("UNIT", "unit")])
        var cpu: [Double] = []
        var idleMemory: [(resident: Double, anonymous: Double)] = []
        var fullMemory: [(resident: Double, anonymous: Double)] = []
        for run in 1...runs {
            progress("[resources] idle worker CPU, run \(run)/\(runs)")
            cpu.append(
                try await Self.withFreshStore(pragmas) { store in
                    try await processes.idleWorkerCPU(store, over: quick ? .seconds(1) : .seconds(5))
                })
            progress("[resources] prismq serve memory, run \(run)/\(runs)")
            idleMemory.append(try await Self.withFreshStore(pragmas) { try await processes.serveMemory($0) })
            fullMemory.append(
                try await Self.withFreshStore(pragmas) { store in
                    progress("[resources] prismq serve memory with \(queued) queued, run \(run)/\(runs)")
                    try await SQLiteBaseline.fill(store, count: queued, types: BenchDepth.types)
                    return try await processes.serveMemory(store)
                })
        }
        let median = Self.median
        table.rows = [
            [.text("idle worker process CPU"), .number(median(cpu), digits: 2), .text("% of a core")],
            [
                .text("prismq serve RSS, empty queue"), .number(median(idleMemory.map(\.resident)), digits: 1),
                .text("MB"),
            ],
            [
                .text("prismq serve own (anonymous) memory, empty queue"),
                .number(median(idleMemory.map(\.anonymous)), digits: 1), .text("MB"),
            ],
            [
                .text("prismq serve RSS, \(queued) queued"), .number(median(fullMemory.map(\.resident)), digits: 1),
                .text("MB"),
            ],
            [
                .text("prismq serve own (anonymous) memory, \(queued) queued"),
                .number(median(fullMemory.map(\.anonymous)), digits: 1), .text("MB"),
            ],
        ]
        return table
    }

    private func backup(_ pragmas: SQLitePragmaProfile) async throws -> BenchTable {
        let tasks = quick ? 10_000 : 1_000_000
        var table = BenchTable(
            key: "backup", title: "ONLINE BACKUP OF \(tasks) TASKS WHILE ONE PRODUCER ENQUEUES ONE AT A TIME",
            columns: [
                ("METHOD", "method"), ("SECONDS", "seconds"), ("COPY S", "copy_seconds"), ("MB", "megabytes"),
                ("ENQUEUES/S BEFORE", "enqueues_per_second_before"), ("DURING", "enqueues_per_second_during"),
                ("P99 MS DURING", "p99_ms"), ("WORST MS", "worst_ms"), ("WORST MS IN COPY", "worst_ms_in_copy"),
            ])
        for method in BenchBackup.Method.allCases {
            var samples: [BenchBackup.Sample] = []
            for run in 1...runs {
                progress("[backup] \(method.rawValue), \(tasks) tasks, run \(run)/\(runs)")
                samples.append(
                    try await Self.withFreshStore(pragmas) { store in
                        try await SQLiteBaseline.fill(store, count: tasks, types: BenchDepth.types)
                        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent().path
                        return try await BenchBackup.measure(method, store: store, directory: directory)
                    })
            }
            let median = { (value: (BenchBackup.Sample) -> Double) in Self.median(samples.map(value)) }
            table.rows.append([
                .text(method.rawValue), .number(median(\.seconds), digits: 2),
                .number(median(\.copySeconds), digits: 2),
                .number(median(\.megabytes), digits: 1),
                .number(median(\.rateBefore), digits: 0), .number(median(\.rateDuring), digits: 0),
                .number(median(\.p99), digits: 2), .number(median(\.worst), digits: 1),
                .number(median(\.worstDuringCopy), digits: 1),
            ])
        }
        return table
    }

    private func http(_ pragmas: SQLitePragmaProfile, processes: BenchProcesses) async throws -> BenchTable {
        let http = BenchHTTP(processes: processes)
        let (requests, rate, offered, tasks) = quick ? (2000, 5000, 2500, 1000) : (20_000, 5000, 25_000, 10_000)
        let sequential = requests / 4
        // Each scenario's loads over the runs, in the order of the table, with the number of
        // operations (requests or tasks) its rate counts.
        var loads: [(name: String, unit: String, operations: Int, runs: [HTTPLoad])] = [
            ("enqueue, 1 connection, \(sequential) requests one at a time", "requests/s", sequential, []),
            ("enqueue, 16 connections, \(requests) requests", "requests/s", requests, []),
            ("claim 1 + complete, 1 worker, \(sequential) tasks", "tasks/s", sequential, []),
            ("claim 1 + complete, 16 workers, \(tasks) tasks", "tasks/s", tasks, []),
            ("settle (complete + claim 8), 16 workers, \(tasks) tasks", "tasks/s", tasks, []),
        ]
        var percentiles: [[Double]] = []
        var inProcess: [Double] = []
        for run in 1...runs {
            func measure(_ index: Int, _ body: (SQLiteStore) async throws -> HTTPLoad) async throws {
                progress("[http] \(loads[index].name), run \(run)/\(runs)")
                loads[index].runs.append(try await Self.withFreshStore(pragmas, body))
            }
            try await measure(0) { try await http.enqueue($0, requests: sequential, connections: 1) }
            try await measure(1) { try await http.enqueue($0, requests: requests, connections: 16) }
            try await measure(2) { try await http.claimThenComplete($0, tasks: sequential, connections: 1) }
            try await measure(3) { try await http.claimThenComplete($0, tasks: tasks, connections: 16) }
            try await measure(4) { try await http.settleRounds($0, tasks: tasks, connections: 16, batch: 8) }
            progress("[http] enqueue at \(rate)/s offered, run \(run)/\(runs)")
            percentiles.append(
                BenchLatency.percentiles(
                    try await Self.withFreshStore(pragmas) { store in
                        try await http.enqueueLatencies(store, rate: rate, requests: offered, connections: 8)
                    }))
            progress("[http] in-process pool of 16, \(tasks) tasks, run \(run)/\(runs)")
            inProcess.append(
                try await Self.withFreshStore(pragmas) { store in
                    let queue = TaskQueue(store: store)
                    try await BenchScenario.enqueue(tasks, into: queue)
                    return Double(tasks) / Self.seconds(try await BenchScenario.runPool(queue, until: tasks))
                })
        }
        let median = Self.median
        var table = BenchTable(
            key: "http", title: "HTTP ON LOOPBACK (prismq serve; keep-alive connections from this process)",
            columns: [
                ("MEASURE", "measure"), ("RATE", "rate"), ("UNIT", "unit"), ("P50 MS", "p50_ms"), ("P99 MS", "p99_ms"),
                ("SERVER CPU µs/REQ", "server_cpu_us_per_request"), ("CTX SW/REQ", "server_switches_per_request"),
            ])
        for load in loads {
            let latencies = load.runs.map { BenchLatency.percentiles($0.latencies) }
            table.rows.append([
                .text(load.name),
                .number(median(load.runs.map { Double(load.operations) / Self.seconds($0.elapsed) }), digits: 0),
                .text(load.unit),
                .number(median(latencies.map { $0[0] }), digits: 2),
                .number(median(latencies.map { $0[2] }), digits: 2),
                .number(median(load.runs.map(\.cpuMicrosPerRequest)), digits: 0),
                .number(median(load.runs.map(\.switchesPerRequest)), digits: 1),
            ])
        }
        let latency = (0..<3).map { index in median(percentiles.map { $0[index] }) }
        table.rows.append([
            .text("enqueue at \(rate)/s offered (8 connections; p95 \(String(format: "%.2f", latency[1])) ms)"),
            .number(Double(rate), digits: 0), .text("requests/s"), .number(latency[0], digits: 2),
            .number(latency[2], digits: 2), .none, .none,
        ])
        table.rows.append([
            .text("in-process pool of 16, \(tasks) tasks (the settle row's baseline)"),
            .number(median(inProcess), digits: 0), .text("tasks/s"), .none, .none, .none, .none,
        ])
        let settled = median(loads[4].runs.map { Double(tasks) / Self.seconds($0.elapsed) })
        table.note = String(
            format: "Settle over HTTP reaches %.2f× the in-process pool's rate in this run. Server CPU and context "
                + "switches are per HTTP request (a settle request carries up to 8 outcomes and 8 claims).",
            settled / median(inProcess))
        return table
    }

    /// The median rate of each scenario over `runs` runs on fresh databases.
    private func measure(
        _ scenarios: [BenchScenario], _ pragmas: SQLitePragmaProfile, label: String
    ) async throws -> [String: [Double]] {
        var rates: [String: [Double]] = [:]
        for (index, scenario) in scenarios.enumerated() {
            for run in 1...runs {
                progress("[\(label) \(index + 1)/\(scenarios.count)] \(scenario.name), run \(run)/\(runs)")
                let elapsed = try await Self.withFreshStore(pragmas) { store in try await scenario.measure(store) }
                rates[scenario.name, default: []].append(Double(scenario.operations) / Self.seconds(elapsed))
            }
        }
        return rates
    }

    // MARK: Support

    /// Shows what runs now on one terminal line (stderr); `nil` clears it.
    func progress(_ text: String?) {
        guard !json || text == nil else { return }
        let line = text.map { "\r\u{1B}[2K" + $0 } ?? "\r\u{1B}[2K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Runs `body` on a store over a new temporary database, removed afterwards.
    static func withFreshStore<T>(
        _ profile: SQLitePragmaProfile, _ body: (SQLiteStore) async throws -> T
    )
        async throws -> T
    {
        let directory = NSTemporaryDirectory() + "prismq-bench-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SQLiteConfiguration()
        configuration.profile = profile
        return try await body(try SQLiteStore(path: directory + "/bench.db", configuration: configuration))
    }

    /// The middle value (the upper one of an even count).
    static func median(_ values: [Double]) -> Double {
        values.sorted()[values.count / 2]
    }

    static func seconds(_ duration: Duration) -> Double {
        max(1e-9, duration.inSeconds)
    }
}
