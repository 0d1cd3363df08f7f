import Foundation
import Testing

/// `prismq export` and `prismq import` on SQLite queues, through standard output and input, and
/// what a cut-off file does.
@Suite("prismq export and import", .timeLimit(.minutes(5)))
struct ExportImportTests {
    let cli = CLIRunner()

    @Test func anExportPipedIntoImportCopiesTheQueueAndACutOffFileFails() async throws {
        for payload in [#"{"b": 2.50, "a": [1]}"#, "7", #""text""#] {
            #expect(try await cli.onDatabase("enqueue", "--type", "t", "--payload", payload).status == 0)
        }
        let exported = try await cli.onDatabase("export")
        #expect(exported.status == 0 && exported.stdout.hasSuffix(#"{"kind":"end","tasks":3,"workers":0}"# + "\n"))

        let copy = cli.directory + "/copy.db"
        let imported = try await cli.start(["import", "--db", copy], stdin: exported.stdout).wait()
        #expect(imported.stdout.contains("Imported 3 tasks (0 were there already) and 0 workers from standard input"))
        let again = try await cli.run(["export", "--db", copy])
        #expect(again.stdout == exported.stdout, "the same lines, byte for byte")

        // Cut off before its end line: the tasks it holds go in, the import still fails.
        let lines = exported.stdout.split(separator: "\n")
        let cut = lines.dropLast(2).joined(separator: "\n") + "\n"
        let partial = cli.directory + "/partial.db"
        let refused = try await cli.start(["import", "--db", partial], stdin: cut).wait()
        #expect(refused.status == 1 && refused.stderr.contains("is cut off"), "\(refused.stderr)")
        let listed = try await cli.run(["list", "--json", "--db", partial])
        #expect((try CLIRunner.object(listed.stdout)["tasks"] as? [Any])?.count == 2)
        let trailing = exported.stdout + lines[1] + "\n"
        let after = try await cli.start(["import", "--db", cli.directory + "/other.db"], stdin: trailing).wait()
        #expect(after.status == 1 && after.stderr.contains("line 6: a line after the end line"), "\(after.stderr)")
        // A duration out of range is refused with its line (it trapped once; then it was clamped).
        let huge = exported.stdout.replacingOccurrences(
            of: #""timeout_seconds":null"#, with: #""timeout_seconds":1e300"#)
        let outOfRange = try await cli.start(["import", "--db", cli.directory + "/huge.db"], stdin: huge).wait()
        #expect(
            outOfRange.status == 1
                && outOfRange.stderr.contains(#"line 2: "timeout_seconds" must be more than 0 s and at most 100 years"#),
            "\(outOfRange.stderr)")
        for (input, reason) in [
            ("not an export\n", "does not start with a prismq-export header line"), ("\n\n", "is empty"),
            (#"{"kind":"prismq-export","version":9}"# + "\n", "is export version 9"),
        ] {
            let path = cli.directory + "/never.db"
            let wrong = try await cli.start(["import", "--db", path], stdin: input).wait()
            #expect(wrong.status == 1 && wrong.stderr.contains(reason), "\(wrong.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path), "a file that is no export creates nothing")
        }

        let unwritable = try await cli.onDatabase("export", "--to", cli.directory + "/missing/dir/out.jsonl")
        #expect(unwritable.status == 1 && unwritable.stderr.contains("Cannot write"), "\(unwritable.stderr)")
    }
}
