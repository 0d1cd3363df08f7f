import Foundation
import Testing

/// `--db` and `PRISMQ_QUEUE_DB_PATH` name a store by path or URL, through one parser.
@Suite("Store locations on the command line", .timeLimit(.minutes(5)))
struct StoreLocationTests {
    let cli = CLIRunner()

    /// What the working directory holds besides the runner's own capture files.
    func entries(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { !$0.hasSuffix(".out") && !$0.hasSuffix(".err") }.sorted()
    }

    @Test func sqliteURLsAndPlainPathsNameTheSameFile() async throws {
        let work = cli.directory + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let absolute = cli.directory + "/absolute/q.db"
        let forms = [
            ("sqlite://" + absolute, absolute), ("sqlite:relative.db", work + "/relative.db"),
            ("plain.db", work + "/plain.db"),
            (
                "sqlite:///" + cli.directory.dropFirst() + "/escaped%20name.db",
                cli.directory + "/escaped name.db"
            ),
        ]
        for (location, file) in forms {
            let enqueued = try await cli.run(["enqueue", "--type", "t", "--db", location], workingDirectory: work)
            #expect(enqueued.status == 0, "\(location): \(enqueued.stderr)")
            #expect(FileManager.default.fileExists(atPath: file), "\(location) names \(file)")
            let listed = try await cli.run(["list", "--json", "--db", file])
            #expect((try? CLIRunner.object(listed.stdout)["tasks"] as? [Any])?.count == 1, "\(location)")
        }
        #expect(
            try entries(work)
                == [
                    "plain.db", "plain.db-shm", "plain.db-wal", "relative.db",
                    "relative.db-shm", "relative.db-wal",
                ].filter { name in
                    FileManager.default.fileExists(atPath: work + "/" + name)
                })
        #expect(!FileManager.default.fileExists(atPath: work + "/sqlite:"), "no folder named after the scheme")

        let environment = ["PRISMQ_QUEUE_DB_PATH": "sqlite://" + absolute, "HOME": cli.directory]
        let fromEnvironment = try await cli.run(["list", "--json"], environment: environment)
        #expect((try? CLIRunner.object(fromEnvironment.stdout)["tasks"] as? [Any])?.count == 1)
    }

    @Test func unknownSchemesAndBadURLsAreClearErrorsThatCreateNothing() async throws {
        let work = cli.directory + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let cases = [
            ("mysql://db/queue", "Unknown store scheme 'mysql:'"),
            ("postgres://localhost/queue?colour=red", "Unknown URL option colour"),
            ("postgres://localhost/queue?schema=Bad-Name", "The schema name must be"),
            ("postgresql://localhost/queue?sslmode=maybe", "sslmode is one of"),
            ("postgres://localhost/queue?max_connections=0", "max_connections is a whole number from 1 to 1000"),
            ("postgres://localhost/queue?connect_timeout=1.5", "connect_timeout is whole seconds"),
            ("sqlite://host/queue.db", "names a host"),
            ("sqlite:queue.db?mode=ro", "takes no query"),
            ("http://", "is not a server URL"),
            ("http://127.0.0.1:9/?x=1", "is not a server URL"),
            ("sqlite://", "names no file"),
            ("sqlite:100%.db", "broken percent escape"),
        ]
        for (location, message) in cases {
            let result = try await cli.run(["enqueue", "--type", "t", "--db", location], workingDirectory: work)
            #expect(result.status == 1, "\(location)")
            #expect(result.stderr.hasPrefix("prismq: ") && result.stderr.contains(message), "\(result.stderr)")
            if location.hasPrefix("mysql") {
                #expect(
                    result.stderr.contains("sqlite:, http://, https://, postgres://"), "the known schemes are listed")
            }
        }
        #expect(try entries(work).isEmpty, "nothing was created")
        let both = try await cli.run(["list", "--db", cli.database, "--server", "http://127.0.0.1:9"])
        #expect(both.status == 1 && both.stderr.contains("not both"))
        let upper = try await cli.run(["list", "--db", "HTTP://127.0.0.1:9"])
        #expect(upper.status == 1 && upper.stderr.contains("Cannot reach the server"), "an upper-case scheme is a URL")
        let serve = try await cli.run(["serve", "--db", "http://127.0.0.1:9"])
        #expect(serve.status == 1 && serve.stderr.contains("serve works on a SQLite or PostgreSQL database"))
    }
}
