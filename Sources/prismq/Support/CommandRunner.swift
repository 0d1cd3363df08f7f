import Foundation
import PrismQ

/// Runs a shell command once per task, the `prismq worker --exec` contract: the payload on
/// stdin; `PRISMQ_TASK_ID`, `PRISMQ_TASK_TYPE` and `PRISMQ_ATTEMPT` in the environment; exit
/// 0 completes (stdout, when it is JSON, is the result); exit 65 (`EX_DATAERR`) fails for
/// good; any other exit or a signal fails retryably; the tail of stderr is the error. The
/// command runs in its own process group, which is killed when the task's timeout passes or
/// the task is cancelled.
struct CommandRunner: Sendable {
    /// The shell command.
    let command: String
    /// Where each run's output is kept until it is read.
    let scratch: String

    /// The exit status that fails a task for good.
    static let permanentFailureStatus: Int32 = 65
    /// How much of stderr becomes the error.
    static let errorTailBytes = 2000

    init(command: String) {
        self.command = command
        scratch = NSTemporaryDirectory() + "prismq-worker-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    func run(_ context: TaskContext) async throws -> RawJSON? {
        let task = context.task
        let out = scratch + "/\(task.id)-\(context.lease.token).out"
        let err = scratch + "/\(task.id)-\(context.lease.token).err"
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        let process = Process()
        // Foundation starts the shell as the leader of its own process group, so a kill of the
        // group reaches the command's children too.
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["PRISMQ_TASK_ID"] = String(task.id)
        environment["PRISMQ_TASK_TYPE"] = task.type
        environment["PRISMQ_ATTEMPT"] = String(task.attempts)
        process.environment = environment
        let input = Pipe()
        let outHandle = try Self.create(out)
        let errHandle = try Self.create(err)
        // Every descriptor is closed here: Foundation's `Process.run()` crashes once a process
        // has more than 1,024 open (seen here when these leaked).
        defer {
            try? outHandle.close()
            try? errHandle.close()
            try? input.fileHandleForReading.close()
        }
        process.standardInput = input
        process.standardOutput = outHandle
        process.standardError = errHandle

        let status: (reason: Process.TerminationReason, code: Int32) = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                process.terminationHandler = { process in
                    continuation.resume(returning: (process.terminationReason, process.terminationStatus))
                }
                do {
                    try process.run()
                    // A cancellation that came before the shell existed had nothing to kill.
                    if Task.isCancelled { Self.kill(process) }
                } catch {
                    process.terminationHandler = nil
                    continuation.resume(throwing: TaskFailure("Cannot start /bin/sh: \(error)."))
                    return
                }
                let payload = Data(task.payload.text.utf8)
                Thread.detachNewThread {
                    try? input.fileHandleForWriting.write(contentsOf: payload)
                    try? input.fileHandleForWriting.close()
                }
            }
        } onCancel: {
            Self.kill(process)
        }
        try Task.checkCancellation()
        let stdout = FileManager.default.contents(atPath: out) ?? Data()
        let stderr = FileManager.default.contents(atPath: err) ?? Data()
        let tail = String(decoding: stderr.suffix(Self.errorTailBytes), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        switch (status.reason, status.code) {
        case (.exit, 0):
            let text = String(decoding: stdout, as: UTF8.self)
            return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : try? RawJSON(validating: text)
        case (.exit, Self.permanentFailureStatus):
            throw TaskFailure.permanent(Self.describe("exited with status 65", tail))
        case (.exit, let code):
            throw TaskFailure(Self.describe("exited with status \(code)", tail))
        default:
            throw TaskFailure(Self.describe("was killed by signal \(status.code)", tail))
        }
    }

    private static func describe(_ what: String, _ tail: String) -> String {
        tail.isEmpty ? "The command \(what)." : "The command \(what): \(tail)"
    }

    private static func create(_ path: String) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TaskFailure("Cannot create \(path) for the command's output.")
        }
        return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    /// Terminates the command's process group, then kills it if it lingers.
    private static func kill(_ process: Process) {
        let group = process.processIdentifier
        guard group > 0 else { return }
        _ = Foundation.kill(-group, SIGTERM)
        // Children that ignore SIGTERM die even after the shell has gone.
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) {
            _ = Foundation.kill(-group, SIGKILL)
        }
    }
}
