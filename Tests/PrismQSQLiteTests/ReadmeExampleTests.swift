import Foundation
import PrismQ
import PrismQSQLite
import Testing

/// Runs the README's Swift example, and checks the README still shows exactly this code.
@Suite("README example")
struct ReadmeExampleTests {
    @Test func theExampleRunsAndMatchesTheReadme() async throws {
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

        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../README.md"
            ),
            encoding: .utf8
        )
        let code = source.components(separatedBy: "// README begin\n")[1].components(
            separatedBy: "        // README end")[0]
        let unindented = code.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }
            .joined(separator: "\n")
            .replacingOccurrences(of: "databasePath", with: "\"queue.db\"")
        #expect(readme.contains("```swift\n" + unindented + "```"))
    }
}
