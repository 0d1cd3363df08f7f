import Foundation
import Testing

/// The runbook and the troubleshooting guide, run as written: each `console` block's commands
/// (`$ …` lines) in a fresh directory that is also `HOME`, their output (standard output and
/// error) compared with the lines under them, `…` standing for any text.
@Suite("The runbook's commands, as written", .timeLimit(.minutes(3)))
struct RunbookTests {
    /// A command of a `console` block and the lines it must print.
    struct Step: CustomStringConvertible {
        var command: String
        var expected: [String]
        var description: String { "$ " + command }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The steps of every `console` block of `document`, in order.
    static func steps(of document: String) throws -> [Step] {
        let text = try String(contentsOf: root.appendingPathComponent(document), encoding: .utf8)
        var steps: [Step] = []
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == "```console" {
                inBlock = true
            } else if inBlock, line == "```" {
                inBlock = false
            } else if inBlock, line.hasPrefix("$ ") {
                steps.append(Step(command: String(line.dropFirst(2)), expected: []))
            } else if inBlock, !steps.isEmpty {
                steps[steps.count - 1].expected.append(line)
            }
        }
        return steps
    }

    /// Whether `line` is what `expected` shows, `…` matching any text.
    static func matches(_ line: String, _ expected: String) -> Bool {
        let pattern = expected.components(separatedBy: "…").map(NSRegularExpression.escapedPattern(for:))
            .joined(separator: ".*")
        return line.range(of: "^" + pattern + "$", options: .regularExpression) != nil
    }

    /// Runs `command` under `/bin/sh` in `directory` with only `HOME` and `PATH` (the built
    /// `prismq` first) set: what it printed.
    static func run(_ command: String, in directory: String) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>&1"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let binaries = URL(fileURLWithPath: CLIRunner.binary).deletingLastPathComponent().path
        process.environment = ["HOME": directory, "PATH": binaries + ":/usr/bin:/bin", "LANG": "C.UTF-8"]
        let output = directory + "/.runbook-output"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardInput = FileHandle.nullDevice
        let exit = ProcessExit()
        process.terminationHandler = { exit.record($0.terminationStatus) }
        try process.run()
        _ = await exit.status()
        return String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
    }

    @Test(arguments: ["docs/operations.md", "docs/troubleshooting.md"])
    func everyCommandPrintsWhatTheDocumentShows(_ document: String) async throws {
        let steps = try Self.steps(of: document)
        #expect(steps.count >= 5, "the document has its commands in console blocks")
        let directory = NSTemporaryDirectory() + "prismq-runbook-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for step in steps {
            let printed = try await Self.run(step.command, in: directory)
            var lines = printed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            let same =
                lines.count == step.expected.count && zip(lines, step.expected).allSatisfy { Self.matches($0, $1) }
            #expect(
                same, "\(document): \(step) printed:\n\(printed)\nexpected:\n\(step.expected.joined(separator: "\n"))")
            if !same { return }
        }
    }

    @Test func theMatcherTakesEllipsesForAnyTextAndNothingElse() {
        #expect(Self.matches("log 12.0 KiB → 0 B", "log … → 0 B"))
        #expect(Self.matches("a.b (c)", "a.b (c)"))
        #expect(!Self.matches("aXb (c)", "a.b (c)"), "a dot is a dot")
        #expect(!Self.matches("log 1 → 1 B", "log … → 0 B"))
        #expect(!Self.matches("ok: no problems, really", "ok: no problems"))
    }
}
