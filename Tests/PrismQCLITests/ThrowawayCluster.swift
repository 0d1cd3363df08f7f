import Foundation
import PrismQHarness
import Testing

/// Where `scripts/with-postgres` found `initdb` and `pg_ctl`.
let postgresBinaries = ProcessInfo.processInfo.environment["PRISMQ_TEST_POSTGRES_BIN"]

/// A PostgreSQL cluster of one test's own, which the test may stop and start again without
/// disturbing the tests that share the main test server. Trusts local connections; its files
/// live in the runner's temporary directory.
struct ThrowawayCluster {
    let cli: CLIRunner
    let port: Int
    private let bin: String
    private var directory: String { cli.directory + "/postgres" }

    /// The queue's URL on this cluster.
    var url: String { "postgres://prismq@127.0.0.1:\(port)/postgres?sslmode=disable" }

    /// Makes the cluster and starts it.
    init(cli: CLIRunner) async throws {
        self.cli = cli
        bin = try #require(postgresBinaries)
        guard let port = LoopbackPort.free() else { throw ClusterFailure(description: "no free port on 127.0.0.1") }
        self.port = port
        try FileManager.default.createDirectory(
            atPath: cli.directory + "/postgres", withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o700])
        if getuid() == 0 { try await run("/usr/bin/chown", ["postgres:", directory]) }
        try await postgres(
            "initdb",
            ["-D", directory + "/data", "-U", "prismq", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        try await start()
    }

    /// Starts the server and waits until it accepts connections.
    func start() async throws {
        try await postgres(
            "pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60", "start", "-o",
                "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory) -c fsync=off",
            ],
            serverLog: directory + "/server.log")
    }

    /// Stops the server as an operator's restart does (`-m fast`: sessions are ended).
    func stop() async throws {
        try await postgres("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
    }

    /// Starts stopping the server at once if it runs, without waiting (for `defer`, which
    /// cannot await, and must not block the cooperative pool): `pg_ctl` runs and is waited for
    /// on a thread of its own. The runner's `remove()` deletes the files.
    func stopNow() {
        let (executable, arguments) = command("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "stop"])
        let log = cli.directory + "/tools.log"
        Thread { _ = Self.spawnAndWait(executable, arguments, log: log) }.start()
    }

    /// Runs a PostgreSQL tool as the `postgres` user (who owns the cluster) when root.
    /// A failure quotes `serverLog`, where the server says why it did not start.
    private func postgres(_ tool: String, _ arguments: [String], serverLog: String? = nil) async throws {
        let (executable, arguments) = command(tool, arguments)
        try await run(executable, arguments, serverLog: serverLog)
    }

    /// The command line of a PostgreSQL tool: through `runuser` when root.
    private func command(_ tool: String, _ arguments: [String]) -> (String, [String]) {
        guard getuid() == 0 else { return (bin + "/" + tool, arguments) }
        return ("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + arguments)
    }

    /// Runs `executable` to its end, its output appended to `tools.log` in the runner's
    /// directory. Not through `Process`, which never sees `pg_ctl start` end: the server it
    /// leaves running keeps a descriptor `Process` waits on.
    private func run(_ executable: String, _ arguments: [String], serverLog: String? = nil) async throws {
        let log = cli.directory + "/tools.log"
        let status = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Self.spawnAndWait(executable, arguments, log: log)) }.start()
        }
        guard status != 0 else { return }
        let output = [log, serverLog].compactMap { $0 }.map { path in
            String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self).suffix(2000)
        }
        throw ClusterFailure(
            description: "\(executable) \(arguments) ended with \(status): \(output.joined(separator: "\n---\n"))")
    }

    /// Runs `executable` and waits for it: its status as `waitpid` gives it, or -1 when it could
    /// not be started or waited for.
    private static func spawnAndWait(_ executable: String, _ arguments: [String], log: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return -1 }
        }
        return status
    }
}

/// Why a throwaway cluster could not be made, started or stopped.
struct ClusterFailure: Error, CustomStringConvertible {
    let description: String
}
