import ArgumentParser
import Foundation
import PrismQ
import PrismQHarness
import PrismQSQLite
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What one HTTP scenario measured: the clients' view, and what the server spent on it.
struct HTTPLoad {
    /// Requests answered.
    var requests: Int
    /// From the first request to the last answer.
    var elapsed: Duration
    /// Each request's response time in milliseconds.
    var latencies: [Double]
    /// User and system CPU the server used meanwhile.
    var serverCPUSeconds: Double
    /// Context switches (voluntary and not) of the server's threads meanwhile.
    var serverSwitches: Int

    /// Server CPU per request, in microseconds.
    var cpuMicrosPerRequest: Double { serverCPUSeconds * 1e6 / Double(max(1, requests)) }
    /// Server context switches per request.
    var switchesPerRequest: Double { Double(serverSwitches) / Double(max(1, requests)) }
}

/// HTTP on loopback: a `prismq serve` process loaded by keep-alive connections of this one.
struct BenchHTTP {
    let processes: BenchProcesses

    /// Enqueue requests over `connections` keep-alive connections, each sending its next
    /// request as soon as the last one is answered.
    func enqueue(_ store: SQLiteStore, requests: Int, connections: Int) async throws -> HTTPLoad {
        try await load(on: store, connections: connections) { connection, client, _ in
            for _ in stride(from: connection, to: requests, by: connections) {
                try client.expect(201, try client.post("/queue/tasks", #"{"type":"bench","payload":{"n":1}}"#))
            }
        }
    }

    /// Enqueue response times in milliseconds at `rate` requests per second offered over
    /// `connections` connections, each from the time the request was due (so a slow answer
    /// also delays the requests behind it, as it would a real client).
    func enqueueLatencies(_ store: SQLiteStore, rate: Int, requests: Int, connections: Int) async throws -> [Double] {
        let samples = Locked<[Double]>([])
        _ = try await load(on: store, connections: connections) { connection, client, started in
            let start = started + .milliseconds(50)
            for index in stride(from: connection, to: requests, by: connections) {
                let due = start + .microseconds(Int64(index) * 1_000_000 / Int64(rate))
                let wait = due - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: BenchCommand.seconds(wait)) }
                try client.expect(201, try client.post("/queue/tasks", #"{"type":"bench","payload":{"n":1}}"#))
                let latency = BenchCommand.seconds(ContinuousClock.now - due) * 1000
                samples.withLock { $0.append(latency) }
            }
        }
        return samples.withLock { $0 }
    }

    /// `tasks` tasks claimed and completed over HTTP by `connections` workers, one task per
    /// claim, then one complete: two requests per task.
    func claimThenComplete(_ store: SQLiteStore, tasks: Int, connections: Int) async throws -> HTTPLoad {
        try await BenchScenario.enqueue(tasks, into: TaskQueue(store: store))
        return try await load(on: store, connections: connections) { connection, client, _ in
            let claim = #"{"worker_id":"bench-\#(connection)","capabilities":["bench"]}"#
            while true {
                let response = try client.post("/queue/claim", claim)
                try client.expect(200, response)
                guard let (id, token) = try Self.leases(response.body).first else { return }
                try client.expect(
                    200, try client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#))
            }
        }
    }

    /// `tasks` tasks drained by `connections` HTTP workers through `POST /queue/settle`: each
    /// request completes what the worker holds and claims up to `batch` more.
    func settleRounds(_ store: SQLiteStore, tasks: Int, connections: Int, batch: Int) async throws -> HTTPLoad {
        try await BenchScenario.enqueue(tasks, into: TaskQueue(store: store))
        return try await load(on: store, connections: connections) { connection, client, _ in
            let claim = #""claim":{"worker_id":"bench-\#(connection)","capabilities":["bench"],"max_tasks":\#(batch)}"#
            var held: [(id: Int, token: Int)] = []
            repeat {
                let outcomes = held.map { #"{"task_id":\#($0.id),"lease_token":\#($0.token),"outcome":"complete"}"# }
                let response = try client.post(
                    "/queue/settle", #"{"outcomes":[\#(outcomes.joined(separator: ","))],\#(claim)}"#)
                try client.expect(200, response)
                held = try Self.leases(response.body)
            } while !held.isEmpty
        }
    }

    /// Runs `body(index)` for each index below `count`, each on a thread of its own (the
    /// clients block on their sockets), and returns once all have; the first error is thrown.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                        Thread { done.resume(with: Result { try body(index) }) }.start()
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The ids and lease tokens of the tasks in a claim's (or a settle's) answer.
    static func leases(_ body: String) throws -> [(id: Int, token: Int)] {
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return try (object?["tasks"] as? [[String: Any]] ?? []).map { task in
            guard let id = task["id"] as? Int, let token = task["lease_token"] as? Int else {
                throw ValidationError("A claimed task without its id or lease token: \(body)")
            }
            return (id, token)
        }
    }

    /// Starts `prismq serve` on the store's database, runs `body(index, connection, start)` on
    /// `connections` threads with a connection each, once all are open (`start` is when the
    /// load began), and measures what the server spent.
    private func load(
        on store: SQLiteStore, connections: Int,
        _ body: @escaping @Sendable (Int, HTTPConnection, ContinuousClock.Instant) throws -> Void
    ) async throws -> HTTPLoad {
        let (server, port) = try await processes.startServer(on: store)
        defer { server.stop() }
        let clients = try (0..<connections).map { _ in try HTTPConnection(port: port) }
        let (cpu, switches) = (try server.cpuSeconds(), try server.contextSwitches())
        let start = ContinuousClock.now
        try await Self.onThreads(clients.count) { index in try body(index, clients[index], start) }
        let elapsed = ContinuousClock.now - start
        return HTTPLoad(
            requests: clients.map(\.latencies.count).reduce(0, +), elapsed: elapsed,
            latencies: clients.flatMap(\.latencies), serverCPUSeconds: try server.cpuSeconds() - cpu,
            serverSwitches: try server.contextSwitches() - switches)
    }
}

/// One keep-alive HTTP/1.1 connection to 127.0.0.1 on blocking sockets: just enough client
/// for the bench's load.
final class HTTPConnection: @unchecked Sendable {  // used by one thread at a time
    private let socket: Int32
    private var buffer: [UInt8] = []
    /// Each answered request's response time, in milliseconds.
    private(set) var latencies: [Double] = []

    init(port: Int) throws {
        guard let socket = LoopbackPort.connection(to: port) else {
            throw ValidationError("Cannot connect to 127.0.0.1:\(port).")
        }
        self.socket = socket
        var noDelay: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(socket)
    }

    /// Posts a JSON body and returns the status and body of the answer.
    func post(_ path: String, _ body: String) throws -> (status: Int, body: String) {
        try request("POST", path, body: body)
    }

    /// Gets `path` and returns the status and body of the answer.
    func get(_ path: String) throws -> (status: Int, body: String) {
        try request("GET", path, body: nil)
    }

    private func request(_ method: String, _ path: String, body: String?) throws -> (status: Int, body: String) {
        let sentAt = ContinuousClock.now
        defer { latencies.append(BenchCommand.seconds(ContinuousClock.now - sentAt) * 1000) }
        let request =
            "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + (body.map { "Content-Type: application/json\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" }
                ?? "\r\n")
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + sent, $0.count - sent, 0) }
            guard written > 0 else { throw ValidationError("The server closed the connection.") }
            sent += written
        }
        let head = try readHead()
        let lines = head.split(separator: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw ValidationError("Not an HTTP response: \(head)")
        }
        let length =
            lines.first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        try fill(length)
        let answer = String(decoding: buffer[..<length], as: UTF8.self)
        buffer.removeFirst(length)
        return (status, answer)
    }

    /// Throws unless the answer has the expected status.
    func expect(_ status: Int, _ response: (status: Int, body: String)) throws {
        guard response.status == status else {
            throw ValidationError("HTTP \(response.status) where \(status) was expected: \(response.body)")
        }
    }

    private func readHead() throws -> String {
        let end: [UInt8] = [13, 10, 13, 10]
        var scanned = 0
        while true {
            if buffer.count >= 4 {
                for index in max(0, scanned - 3)...(buffer.count - 4) where Array(buffer[index..<index + 4]) == end {
                    let head = String(decoding: buffer[..<index], as: UTF8.self)
                    buffer.removeFirst(index + 4)
                    return head
                }
                scanned = buffer.count
            }
            try fill(buffer.count + 1)
        }
    }

    /// Reads until the buffer holds at least `count` bytes.
    private func fill(_ count: Int) throws {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while buffer.count < count {
            let read = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { throw ValidationError("The server closed the connection.") }
            buffer.append(contentsOf: chunk[..<read])
        }
    }
}
