import Foundation
import PrismQ
import Synchronization

/// One process of the run that the controller starts, kills with SIGKILL and starts again: its
/// output goes to `<directory>/<name>.log`, appended across restarts.
final class ChaosActor: Sendable {
    let name: String
    private let arguments: [String]
    private let environment: [String: String]
    private let logPath: String
    private let state = Locked(State())

    private struct State {
        var process: Process?
        var exited = true
        var killedByUs = false
        var unexpectedExits = 0
        var lastStatus: Int32 = 0
    }

    init(name: String, arguments: [String], environment: [String: String] = [:], directory: String) {
        self.name = name
        self.arguments = arguments
        // No token: the run's server and clients use none, whatever this shell has set.
        self.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .filter { $0.key != "PRISMQ_API_TOKEN" }
        logPath = directory + "/" + name + ".log"
    }

    /// Whether its process runs now.
    var isRunning: Bool { !state.withLock { $0.exited } }
    /// How many times it ended without being killed or stopped by the controller.
    var unexpectedExits: Int { state.withLock { $0.unexpectedExits } }
    /// The status of its last exit.
    var lastStatus: Int32 { state.withLock { $0.lastStatus } }

    /// Starts its process (again).
    func start() throws {
        let descriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logPath]) }
        let output = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        process.terminationHandler = { [self] ended in
            self.state.withLock { state in
                guard state.process === ended else { return }
                state.exited = true
                state.lastStatus = ended.terminationStatus
                if !state.killedByUs { state.unexpectedExits += 1 }
            }
        }
        // Under the lock, so that an exit at once is recorded against this process; the state
        // changes only once it runs (a process that never started has no pid to signal).
        try state.withLock { state in
            try process.run()
            state.exited = false
            state.killedByUs = false
            state.process = process
        }
        try? output.close()
    }

    /// Sends `signal` (SIGKILL by default) if it runs; the controller's own, not an unexpected exit.
    func kill(_ signal: Int32 = SIGKILL) {
        state.withLock { state in
            guard !state.exited, let process = state.process, process.processIdentifier > 0 else { return }
            state.killedByUs = true
            _ = Foundation.kill(process.processIdentifier, signal)
        }
    }

    /// Waits up to `timeout` for its process to end.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// The last `bytes` of its output.
    func outputTail(_ bytes: Int = 2000) -> String {
        String(decoding: (FileManager.default.contents(atPath: logPath) ?? Data()).suffix(bytes), as: UTF8.self)
    }
}
