import Foundation
import PrismQ
import Synchronization

/// Runs the built `prismq` binary and captures what it prints.
struct CLIRunner: Sendable {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The binary: `$PRISMQ_BINARY` (set by scripts/test), else `.build/debug/prismq` of this package.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["PRISMQ_BINARY"], !path.isEmpty {
            return path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/prismq").path
    }()

    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "prismq-cli-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var database: String { directory + "/queue.db" }

    /// Starts `prismq arguments…` (or `executable arguments…`); `wait()` the result.
    func start(
        _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        workingDirectory: String? = nil, executable: String = CLIRunner.binary
    ) throws -> Running {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory {
            process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        }
        if let environment {
            process.environment = environment
        }
        let id = UUID().uuidString
        let out = directory + "/\(id).out"
        let err = directory + "/\(id).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        if let stdin {
            let path = directory + "/\(id).in"
            _ = FileManager.default.createFile(atPath: path, contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let exit = ProcessExit()
        process.terminationHandler = { exit.record($0.terminationStatus) }
        try process.run()
        return Running(process: process, exit: exit, out: out, err: err)
    }

    /// Runs `prismq arguments…` to the end.
    func run(
        _ arguments: [String], environment: [String: String]? = nil, workingDirectory: String? = nil
    ) async throws -> Output {
        try await start(arguments, environment: environment, workingDirectory: workingDirectory).wait()
    }

    /// Runs `prismq arguments… --db <this test's database>`.
    func onDatabase(_ arguments: String...) async throws -> Output {
        try await run(arguments + ["--db", database])
    }

    /// A started process.
    struct Running {
        let process: Process
        let exit: ProcessExit
        let out: String
        let err: String

        /// Waits for the process to end (without holding a thread: Foundation's
        /// `waitUntilExit` spins on a run loop that has nothing to wait for, a core per wait).
        func wait() async -> Output {
            let status = await exit.status()
            func read(_ path: String) -> String {
                String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
            }
            return Output(status: status, stdout: read(out), stderr: read(err))
        }
    }

    /// Parses one JSON object printed on stdout.
    static func object(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A process's exit status, told by its termination handler to whoever awaits it.
final class ProcessExit: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Locked(State())

    /// Records the status and wakes every waiter.
    func record(_ status: Int32) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    /// The status, once the process has ended.
    func status() async -> Int32 {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state in
                if state.status == nil { state.waiters.append(continuation) }
                return state.status
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}
