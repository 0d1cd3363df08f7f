import ArgumentParser
import Foundation
import PrismQ

/// `prismq-chaos audit`: the audit alone, of a run's directory kept with `--keep` (or left by
/// a failed run).
struct ChaosAuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Audit the queue of a kept run directory again.")

    @Option(help: "The run's directory.")
    var directory: String

    @Option(help: "The queue, when not the directory's queue.db.")
    var db: String?

    func run() async throws {
        let queue = try await ChaosStore.open(db ?? directory + "/queue.db")
        let report = try await ChaosAudit.audit(queue: queue, directory: directory)
        say(report.text)
        if !report.problems.isEmpty { throw ExitCode(1) }
    }
}

/// What a chaos run did and what the audit of its queue found.
struct ChaosReport {
    var seed: UInt64 = 0
    var seconds = 0.0
    /// SIGKILLs sent, by victim.
    var kills: [String: Int] = [:]
    /// Exits the controller did not cause, by victim (a process that gave up by itself).
    var unexpectedExits: [String: Int] = [:]
    /// Tasks the producer had acknowledged, and tasks in the queue.
    var acknowledged = 0
    var stored = 0
    var completed = 0
    var dead = 0
    /// Handler runs that reached their end (a task killed mid-run runs again: at least once).
    var handlerRuns = 0
    var tasksRunMoreThanOnce = 0
    /// Broken promises: each must be 0.
    var lost = 0
    var duplicates = 0
    var stuck = 0
    var overBudget = 0
    var problems: [String] = []

    var text: String {
        let killed = kills.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var lines = [
            "seed \(seed), \(Int(seconds)) s of kills",
            "kills: \(kills.values.reduce(0, +)) (\(killed))",
            "tasks: \(acknowledged) acknowledged, \(stored) in the queue; \(completed) completed, \(dead) dead",
            "handler runs: \(handlerRuns); tasks run more than once: \(tasksRunMoreThanOnce)",
            "duplicates: \(duplicates) (must be 0); lost: \(lost) (must be 0); stuck: \(stuck) (must be 0); "
                + "over budget: \(overBudget) (must be 0)",
        ]
        if !unexpectedExits.isEmpty {
            lines.append(
                "exits nobody caused: "
                    + unexpectedExits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            )
        }
        lines += problems.prefix(20).map { "PROBLEM: \($0)" }
        if problems.count > 20 { lines.append("… and \(problems.count - 20) more problems") }
        lines.append(problems.isEmpty ? "ok: every promise held" : "\(problems.count) problem(s)")
        return lines.joined(separator: "\n")
    }
}

/// Reads the queue after a chaos run and checks every acknowledged task.
enum ChaosAudit {
    /// The producer's acknowledgements: task id by sequence number.
    static func acknowledgements(_ path: String) throws -> [Int: Int64] {
        var acknowledged: [Int: Int64] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let id = Int64(fields[0]), let sequence = Int(fields[1]) else { continue }
            acknowledged[sequence] = id
        }
        return acknowledged
    }

    /// Handler runs that reached their end, by task id.
    static func effects(_ path: String) throws -> [Int64: Int] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var runs: [Int64: Int] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let id = line.split(separator: " ").first.flatMap({ Int64($0) }) else { continue }
            runs[id, default: 0] += 1
        }
        return runs
    }

    /// Audits `queue` against the acknowledgements and effects a run left in `directory`.
    static func audit(queue: TaskQueue, directory: String) async throws -> ChaosReport {
        try await audit(
            queue: queue, acknowledgements: try acknowledgements(directory + "/acks.txt"),
            effects: try effects(directory + "/effects.txt"))
    }

    static func audit(
        queue: TaskQueue, acknowledgements: [Int: Int64], effects: [Int64: Int]
    ) async throws -> ChaosReport {
        var report = ChaosReport()
        report.handlerRuns = effects.values.reduce(0, +)
        report.tasksRunMoreThanOnce = effects.values.filter { $0 > 1 }.count
        report.acknowledged = acknowledgements.count
        for (sequence, id) in acknowledgements.sorted(by: { $0.key < $1.key }) {
            guard let task = try await storedTask(queue, id) else {
                report.lost += 1
                report.problems.append("task \(id) (sequence \(sequence)) was acknowledged and is gone")
                continue
            }
            switch task.status {
            case .completed: report.completed += 1
            case .dead: report.dead += 1
            default:
                report.stuck += 1
                report.problems.append("task \(id) is still \(task.status.rawValue)")
            }
            if task.attempts > task.maxAttempts {
                report.overBudget += 1
                report.problems.append("task \(id) ran \(task.attempts) attempts of \(task.maxAttempts)")
            }
            if task.status == .completed, ChaosTask.isPoison(task.payload.text) {
                report.problems.append("poison task \(id) completed")
            }
            if task.status == .completed, effects[id] == nil {
                report.problems.append("task \(id) completed but no handler run finished for it")
            }
            let history = try await queue.logs(taskID: id)
            let events = history.map(\.event)
            if events.filter({ $0 == .completed }).count > 1 {
                report.duplicates += 1
                report.problems.append("task \(id) completed more than once: \(events)")
            } else if let broken = historyProblem(history, task: task) {
                report.problems.append("task \(id): \(broken): \(events)")
            }
        }
        // A task no acknowledgement names is an enqueue that a retry with the same key
        // repeated instead of finding: a duplicate.
        report.stored = try await storedTaskCount(queue)
        if report.stored > report.acknowledged {
            report.duplicates += report.stored - report.acknowledged
            report.problems.append(
                "\(report.stored) tasks are in the queue, \(report.acknowledged) were acknowledged: "
                    + "an idempotency key made more than one")
        }
        return report
    }

    /// What is wrong with a task's history, replayed as state changes; `nil` when nothing is.
    /// A failure or an expiry says in its message whether the task went `dead` (for good) or
    /// back to the queue.
    static func historyProblem(_ history: [TaskLogEntry], task: QueueTask) -> String? {
        guard history.first?.event == .enqueued else { return "it does not start with enqueued" }
        enum State { case queued, running, completed, dead }
        var state = State.queued
        var claims = 0
        var releases = 0
        for entry in history.dropFirst() {
            switch (state, entry.event) {
            case (.queued, .claimed):
                state = .running
                claims += 1
            case (.running, .completed): state = .completed
            case (.running, .failed), (.running, .expired):
                state = (entry.message ?? "").hasPrefix("dead") ? .dead : .queued
            case (.running, .released):
                state = .queued
                releases += 1
            default: return "\(entry.event) cannot follow the state before it"
            }
        }
        switch (state, task.status) {
        case (.completed, .completed), (.dead, .dead): break
        default: return "its history ends otherwise than its status, \(task.status.rawValue)"
        }
        return claims - releases == task.attempts
            ? nil : "\(claims) claims, \(releases) releases, attempts \(task.attempts)"
    }

    /// Task `id`, `nil` when the queue has none.
    static func storedTask(_ queue: TaskQueue, _ id: Int64) async throws -> QueueTask? {
        let result: Result<QueueTask, QueueError>
        do {
            result = .success(try await queue.task(id: id))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let task): return task
        case .failure(let error) where error.code == .notFound: return nil
        case .failure(let error): throw error
        }
    }

    /// How many tasks the queue holds.
    static func storedTaskCount(_ queue: TaskQueue) async throws -> Int {
        var count = 0
        var page = PageRequest(limit: 1000)
        while true {
            let tasks = try await queue.tasks(page: page)
            count += tasks.tasks.count
            guard let next = tasks.nextCursor else { return count }
            page.cursor = next
        }
    }
}
