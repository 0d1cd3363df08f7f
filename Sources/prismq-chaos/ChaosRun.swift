import ArgumentParser
import Foundation
import PrismQ
import PrismQHarness

/// `prismq-chaos run`: the chaos test.
struct ChaosRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the chaos test and print its report; exit 1 when the queue broke a promise.",
        discussion: """
            Starts, on one queue, prismq serve, two in-process worker pools (prismq-chaos \
            pool-worker), a prismq worker --exec on the database, a prismq worker --exec over \
            HTTP, and a producer enqueueing through the server. For --duration, a controller \
            SIGKILLs the server or a worker at random moments (chosen by --seed) and starts it \
            again shortly after. Then everything is restarted, the producer finishes, the \
            queue drains, and the audit reads the database: every acknowledged task exists \
            and ended (completed, or dead) exactly once, none is stuck, none went past its \
            attempt budget, every history is a valid sequence of states, every completed task \
            had its handler run. The same --seed replays the same kill schedule.
            """)

    @Option(help: "How long to kill for: 90s, 10m, 1h (a bare number is seconds).")
    var duration = "60s"

    @Option(help: "The seed of the kill schedule (default: a random one, printed).")
    var seed: UInt64?

    @Option(help: "The queue: a postgres:// URL, or a SQLite file (default: one in the run's directory).")
    var db: String?

    @Option(help: "The prismq binary (default: the one beside this executable).")
    var prismq: String?

    @Option(help: "Tasks the producer enqueues per second.")
    var rate: Double = 40

    @Flag(help: "Keep the run's directory (logs, acknowledgements, effects) even when it passes.")
    var keep = false

    func run() async throws {
        let seconds = try Self.seconds(duration)
        let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        var random = SeededGenerator(seed: seed)
        // The audit counts every task in the queue as this run's.
        if let db, try await ChaosAudit.storedTaskCount(try await ChaosStore.open(db)) > 0 {
            throw ChaosFailure(
                "The queue at \(Self.redacted(db)) is not empty: give an empty one (a new file or schema).")
        }
        let directory = try Self.makeDirectory()
        let database = db ?? directory + "/queue.db"
        let chaos = Self.ownPath()
        let prismq =
            self.prismq ?? URL(fileURLWithPath: chaos).deletingLastPathComponent().appendingPathComponent("prismq").path
        guard let port = LoopbackPort.free() else { throw ChaosFailure("No free port on 127.0.0.1.") }
        let url = "http://127.0.0.1:\(port)"
        let effects = directory + "/effects.txt"
        let acks = directory + "/acks.txt"
        say(
            "prismq-chaos: seed \(seed), \(Int(seconds)) s of kills, queue \(Self.redacted(database)), in \(directory)")

        func worker(_ name: String, _ store: [String]) -> ChaosActor {
            ChaosActor(
                name: name,
                arguments: [prismq, "worker"] + store + [
                    "--type", ChaosTask.type, "--lease", "2", "--grace", "1", "--exec", ChaosTask.command,
                ],
                environment: ["EFFECTS": effects, "CHAOS_KIND": name], directory: directory)
        }
        let server = ChaosActor(
            name: "server",
            arguments: [prismq, "serve", "--db", database, "--port", "\(port)", "--log-level", "warning"],
            directory: directory)
        let victims =
            [server]
            + (1...2).map { n in
                ChaosActor(
                    name: "pool-\(n)", arguments: [chaos, "pool-worker", "--db", database, "--effects", effects],
                    directory: directory)
            }
            + [worker("exec", ["--db", database]), worker("http", ["--server", url])]
        let producer = ChaosActor(
            name: "producer",
            arguments: [
                chaos, "produce", "--server", url, "--acks", acks, "--duration", "\(seconds)", "--rate", "\(rate)",
                "--key-prefix", "chaos-" + URL(fileURLWithPath: directory).lastPathComponent,
            ],
            directory: directory)

        // Whatever fails, no process of the run is left behind.
        var kills: [String: Int] = [:]
        var drained = false
        do {
            try server.start()
            guard await Self.waitForPort(port, timeout: .seconds(60)) else {
                throw ChaosFailure("prismq serve did not start: \(server.outputTail())")
            }
            for victim in victims.dropFirst() { try victim.start() }
            try producer.start()

            // Kill at random moments, each victim started again a moment later.
            var restarts: [ObjectIdentifier: ContinuousClock.Instant] = [:]
            let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            var nextKill = ContinuousClock.now + Self.between(0.3, 1.5, using: &random)
            while ContinuousClock.now < end {
                let now = ContinuousClock.now
                if now >= nextKill {
                    // Every draw is made whatever happens, so a seed gives one schedule.
                    let victim = victims[Int.random(in: 0..<victims.count, using: &random)]
                    let restartAt = now + Self.between(0.1, 1.0, using: &random)
                    nextKill = now + Self.between(0.3, 1.5, using: &random)
                    if victim.isRunning {
                        victim.kill()
                        kills[victim.name, default: 0] += 1
                        restarts[ObjectIdentifier(victim)] = restartAt
                    }
                }
                for victim in victims where !victim.isRunning && (restarts[ObjectIdentifier(victim)] ?? now) <= now {
                    restarts[ObjectIdentifier(victim)] = nil
                    try victim.start()
                }
                try await Task.sleep(for: .milliseconds(20))
            }

            // Everything runs again (once the last ones killed have ended); the producer
            // finishes; the queue drains.
            for victim in victims where restarts[ObjectIdentifier(victim)] != nil {
                _ = await victim.waitForExit(timeout: .seconds(10))
            }
            for victim in victims where !victim.isRunning { try victim.start() }
            guard await producer.waitForExit(timeout: .seconds(300)), producer.lastStatus == 0 else {
                producer.kill()
                throw ChaosFailure("the producer did not finish: \(producer.outputTail())")
            }
            drained = await Self.drain(try await ChaosStore.open(database), timeout: .seconds(180))
            for victim in victims { victim.kill(SIGTERM) }
            for victim in victims where !(await victim.waitForExit(timeout: .seconds(20))) { victim.kill() }
        } catch {
            for actor in victims + [producer] { actor.kill() }
            throw error
        }
        let queue = try await ChaosStore.open(database)

        var report = try await ChaosAudit.audit(queue: queue, directory: directory)
        report.seed = seed
        report.seconds = seconds
        report.kills = kills
        report.unexpectedExits = Dictionary(uniqueKeysWithValues: victims.map { ($0.name, $0.unexpectedExits) })
            .filter { $0.value > 0 }
        if !drained { report.problems.append("the queue did not drain within 180 s after the kills") }
        say(report.text)
        if report.problems.isEmpty, !keep { try? FileManager.default.removeItem(atPath: directory) }
        if !report.problems.isEmpty {
            say("prismq-chaos: FAILED; the run's logs are in \(directory); replay with --seed \(seed)")
            throw ExitCode(1)
        }
    }

    /// Waits until nothing is queued or running (every task ended), or `timeout` passes.
    static func drain(_ queue: TaskQueue, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let stats = try? await queue.stats(),
                (stats.byStatus[.queued] ?? 0) + (stats.byStatus[.running] ?? 0) + (stats.byStatus[.failed] ?? 0) == 0
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    /// `90s`, `10m`, `1h` or a bare number of seconds.
    static func seconds(_ text: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Double(unit == nil ? Substring(text) : text.dropLast()), number > 0 else {
            throw ValidationError("--duration takes a number and a unit, such as 90s, 10m or 1h; not '\(text)'.")
        }
        return number * (unit ?? 1)
    }

    /// A random moment between `low` and `high` seconds from now.
    static func between(_ low: Double, _ high: Double, using random: inout SeededGenerator) -> Duration {
        .milliseconds(Int64(Double.random(in: low...high, using: &random) * 1000))
    }

    /// A URL with its password hidden, for printing.
    static func redacted(_ location: String) -> String {
        location.replacingOccurrences(of: #":[^:@/]*@"#, with: ":…@", options: .regularExpression)
    }

    /// This executable's path.
    static func ownPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// A fresh owner-only directory for the run.
    static func makeDirectory() throws -> String {
        let temporary = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        var template = Array((temporary + "prismq-chaos-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw ChaosFailure("Cannot make a temporary directory.") }
        return String(cString: made)
    }

    /// Waits until something listens on `port`.
    static func waitForPort(_ port: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if LoopbackPort.isListening(port) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
