import Foundation
import Logging
import PrismQ
import PrismQHarness
import ServiceLifecycle
import Testing
import UnixSignals

@testable import PrismQSQLite

/// Runs the README's Swift examples, and checks the README still shows exactly this code.
@Suite("README examples", .timeLimit(.minutes(5)))
struct ReadmeExampleTests {
    @Test func theExamplesRunAndMatchTheReadme() async throws {
        let directory = TemporaryDirectory()
        let databasePath = directory.file("queue.db")
        // README begin
        struct Email: Codable, Sendable { var to: String }

        let queue = TaskQueue(store: try .sqlite(path: databasePath))
        let task = try await queue.enqueue(
            "email.send", payload: Email(to: "ada@example.com"),
            priority: 5, delay: .seconds(10), idempotencyKey: "welcome-42")
        print(task.id, task.status)  // 1 queued

        let page = try await queue.tasks(matching: TaskFilter(status: .queued))
        print(page.tasks.map(\.type))  // ["email.send"]
        // README end
        #expect(task.id == 1 && task.status == .queued)
        #expect(page.tasks.map(\.type) == ["email.send"])

        /// Runs the group until the (no longer delayed) task has completed, then stops it gracefully.
        func runUntilCompleted(_ services: ServiceGroup) async throws {
            try await SQLiteStore(path: databasePath).makeReady(task.id)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                #expect(try await eventually { try await queue.task(id: task.id).status == .completed })
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }

        // README worker begin
        let pool = WorkerPool(queue: queue)
        pool.register("email.send", as: Email.self) { email, context in
            print("sending to \(email.to), attempt \(context.attempt)")
        }
        let logger = Logger(label: "worker")
        let services = ServiceGroup(services: [pool], gracefulShutdownSignals: [.sigterm], logger: logger)
        try await runUntilCompleted(services)  // until SIGTERM: running tasks finish, unfinished ones go back
        // README worker end
        #expect(try await queue.workers().first?.state == .stopped)

        for (begin, end) in [("README begin", "README end"), ("README worker begin", "README worker end")] {
            #expect(try readme().contains("```swift\n" + snippet(between: begin, and: end) + "```"))
        }
    }

    func readme() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The lines between two marker comments of this file, unindented, as the README shows them.
    func snippet(between begin: String, and end: String) throws -> String {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let code = source.components(separatedBy: "// \(begin)\n")[1].components(separatedBy: "        // \(end)")[0]
        return code.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }
            .joined(separator: "\n")
            .replacingOccurrences(of: "databasePath", with: "\"queue.db\"")
            .replacingOccurrences(of: "runUntilCompleted(services)", with: "services.run()")
    }
}
