import Foundation
import PrismQ

/// Runs a shell command once per task, the `prismq worker --exec` contract: the payload on
/// stdin; `PRISMQ_TASK_ID`, `PRISMQ_TASK_TYPE` and `PRISMQ_ATTEMPT` in the environment (and
/// never the API token); exit 0 completes (stdout, when it is JSON, is the result); exit 65
/// (`EX_DATAERR`) fails for good; any other exit or a signal fails retryably; the tail of
/// stderr is the error. The command runs in its own process group, which is killed when the
/// task's timeout passes or the task is cancelled.
struct CommandRunner: Sendable {
    /// The shell command.
    let command: String
    /// The directory where each run's output is kept until it is read: made by `mkdtemp` for
    /// this runner alone (mode 0700), removed by ``removeScratch()``.
    let scratch: String
    /// The environment every command starts from: the worker's, without the API token.
    let environment: [String: String]

    /// The exit status that fails a task for good.
    static let permanentFailureStatus: Int32 = 65
    /// How much of stderr becomes the error.
    static let errorTailBytes = 2000
    /// The variable that holds the server's bearer token, never passed to commands.
    static let tokenVariable = "PRISMQ_API_TOKEN"

    /// Makes a fresh private scratch directory in the system temporary directory.
    ///
    /// - Parameter secrets: values no command may see (the `--token` value, the database
    ///   password): every variable that holds one (or, for one of 4 characters or more, holds it
    ///   within its value, as a database URL does) is left out of the commands' environment, as
    ///   is `PRISMQ_API_TOKEN`.
    /// - Throws: ``QueueError`` `storage` when the directory cannot be made.
    init(
        command: String, hiding secrets: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(QueueError) {
        self.command = command
        let hidden = Set((secrets + [environment[Self.tokenVariable]].compactMap { $0 }).filter { !$0.isEmpty })
        self.environment = environment.filter { name, value in
            name != Self.tokenVariable && !hidden.contains(value)
                && !hidden.contains { $0.count >= 4 && value.contains($0) }
        }
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("prismq-worker-XXXXXX").path
        var template = Array(base.utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        guard let made else {
            let reason = Self.errorText()
            throw QueueError(.storage, "Cannot create a scratch directory in \(NSTemporaryDirectory()): \(reason).")
        }
        scratch = made
    }

    /// Deletes the scratch directory and anything left in it (at the worker's shutdown).
    func removeScratch() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// Runs the command for one task and turns its end into the task's outcome.
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
        var environment = environment
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
        let stdout = try Self.contents(of: outHandle)
        let stderr = try Self.contents(of: errHandle)
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

    /// Creates a new output file, read and write, mode 0600; never follows a symbolic link nor
    /// opens a file that already exists.
    private static func create(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw TaskFailure("Cannot create \(path) for the command's output: \(errorText()).")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Everything the command wrote to an output file made by ``create(_:)``.
    private static func contents(of handle: FileHandle) throws -> Data {
        try handle.seek(toOffset: 0)
        return try handle.readToEnd() ?? Data()
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
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
