import Foundation
import PrismQ

/// One line of a `prismq export` file (JSON Lines): a header, a task with its history, a
/// worker registry entry, or the last line, which counts the others (so a cut-off file shows). A task line is the contract's task object with the lease token, the
/// lease length and the history added; its payload and result are written, and read back,
/// byte for byte.
package enum ExportLine: Equatable {
    /// The first line: which format and version the file holds.
    case header(version: Int)
    case task(TaskRecord)
    case worker(WorkerRecord)
    /// The last line: how many task and worker lines the file holds.
    case end(tasks: Int, workers: Int)

    /// The version this code writes and reads.
    package static let version = 1

    /// The line's JSON text (without the newline).
    package var text: String {
        var writer = JSONWriter()
        switch self {
        case .header(let version):
            writer.add("kind", "prismq-export")
            writer.add("version", version)
        case .task(let record):
            writer.add("kind", "task")
            record.task.write(into: &writer, includeLease: true)
            writer.add("lease_seconds", record.task.leaseDuration?.inSeconds)
            let logs = record.logs.map { entry in
                var log = JSONWriter()
                log.add("event", entry.event.rawValue)
                log.add("at", entry.at)
                log.add("worker_id", entry.workerID)
                log.add("message", entry.message)
                return log.json
            }
            writer.add("logs", raw: JSONText.array(logs))
        case .worker(let worker):
            writer.add("kind", "worker")
            writer.add("id", worker.registration.id)
            writer.add("hostname", worker.registration.hostname)
            writer.add("pid", worker.registration.pid.map(Int64.init))
            writer.add("capabilities", raw: JSONText.array(worker.registration.capabilities.map(JSONText.quoted)))
            writer.add("strategy", worker.registration.strategy?.rawValue)
            writer.add("started_at", worker.startedAt)
            writer.add("last_heartbeat_at", worker.lastHeartbeatAt)
            writer.add("stopped_at", worker.stoppedAt)
        case .end(let tasks, let workers):
            writer.add("kind", "end")
            writer.add("tasks", tasks)
            writer.add("workers", workers)
        }
        return writer.json
    }

    /// Reads one line.
    ///
    /// - Throws: `invalidArgument` naming what is wrong, for anything but a line this code writes.
    package init(parsing line: String) throws(QueueError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw QueueError(.invalidArgument, "not a JSON object")
        }
        switch object["kind"] as? String {
        case "prismq-export":
            guard let version = object["version"] as? Int else { throw QueueError(.invalidArgument, "no version") }
            self = .header(version: version)
        case "task":
            self = .task(try Self.task(object, line: line))
        case "worker":
            self = .worker(try Self.worker(object))
        case "end":
            guard let tasks = object["tasks"] as? Int, let workers = object["workers"] as? Int else {
                throw QueueError(.invalidArgument, "the end line needs its task and worker counts")
            }
            self = .end(tasks: tasks, workers: workers)
        default:
            throw QueueError(.invalidArgument, "\"kind\" is none of prismq-export, task, worker and end")
        }
    }

    private static func task(_ object: [String: Any], line: String) throws(QueueError) -> TaskRecord {
        var task: QueueTask
        do {
            task = try WireDecoding.task(object)
        } catch {
            throw QueueError(.invalidArgument, "not a task (id, type, status, created_at and run_after are needed)")
        }
        // The payload and result as written, not as Foundation would write them again.
        let raw = TopLevelValues(line)
        guard let payload = raw["payload"] else { throw QueueError(.invalidArgument, "no payload") }
        task.payload = try RawJSON(validating: payload)
        if let result = raw["result"], result != "null" {
            task.result = try RawJSON(validating: result)
        }
        task.leaseDuration = (object["lease_seconds"] as? Double).map {
            Duration(seconds: $0, rounding: .toNearestOrAwayFromZero)
        }
        for (field, duration) in [("timeout_seconds", task.timeout), ("lease_seconds", task.leaseDuration)] {
            if let duration, duration <= .zero || duration > TaskValidation.longestDuration {
                throw QueueError(.invalidArgument, "\"\(field)\" must be more than 0 s and at most 100 years")
            }
        }
        var logs: [TaskLogEntry] = []
        for entry in object["logs"] as? [[String: Any]] ?? [] {
            guard let event = entry["event"] as? String, let at = WireDecoding.date(entry["at"]) else {
                throw QueueError(.invalidArgument, "a history entry needs an event and a time")
            }
            logs.append(
                TaskLogEntry(
                    id: 0, taskID: task.id, event: TaskLogEntry.Event(rawValue: event), at: at,
                    workerID: entry["worker_id"] as? String, message: entry["message"] as? String))
        }
        return TaskRecord(task: task, logs: logs)
    }

    private static func worker(_ object: [String: Any]) throws(QueueError) -> WorkerRecord {
        guard let id = object["id"] as? String, let started = WireDecoding.date(object["started_at"]),
            let heartbeat = WireDecoding.date(object["last_heartbeat_at"])
        else {
            throw QueueError(.invalidArgument, "a worker needs an id, started_at and last_heartbeat_at")
        }
        let registration = WorkerRegistration(
            id: id, hostname: object["hostname"] as? String, pid: object["pid"] as? Int,
            capabilities: object["capabilities"] as? [String] ?? [],
            strategy: (object["strategy"] as? String).map(SchedulingStrategy.init(rawValue:)))
        return WorkerRecord(
            registration: registration, startedAt: started, lastHeartbeatAt: heartbeat,
            stoppedAt: WireDecoding.date(object["stopped_at"]))
    }
}

/// The text of each value of a JSON object's top level, by key, as written: found by one pass
/// over valid JSON (strings and nesting skipped), so that values can be kept byte for byte.
struct TopLevelValues {
    private var values: [String: String] = [:]

    /// Splits `object`, which must already be known to be a valid JSON object.
    init(_ object: String) {
        let bytes = Array(object.utf8)
        var index = 0
        var depth = 0
        var key: String?
        var valueStart: Int?
        func skipString() -> Int {
            var end = index + 1
            while end < bytes.count && bytes[end] != UInt8(ascii: "\"") {
                end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
            }
            return end
        }
        func finishValue(at end: Int) {
            if let key, let start = valueStart {
                let text = String(decoding: bytes[start..<end], as: UTF8.self)
                values[key] = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            (key, valueStart) = (nil, nil)
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let end = skipString()
                if depth == 1 && key == nil && valueStart == nil {
                    key = String(decoding: bytes[index + 1..<end], as: UTF8.self)
                }
                index = end
            case UInt8(ascii: ":") where depth == 1:
                valueStart = index + 1
            case UInt8(ascii: ","), UInt8(ascii: "}"):
                if depth == 1 { finishValue(at: index) }
                if byte == UInt8(ascii: "}") { depth -= 1 }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "]"):
                depth -= 1
            default:
                break
            }
            index += 1
        }
    }

    subscript(key: String) -> String? { values[key] }
}
