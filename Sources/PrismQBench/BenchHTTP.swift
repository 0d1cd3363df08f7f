import ArgumentParser
import Foundation
import PrismQ
import PrismQSQLite
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP on loopback: a `prismq serve` process loaded by keep-alive connections of this one.
struct BenchHTTP {
    let processes: BenchProcesses

    /// Enqueue requests per second over `connections` keep-alive connections, each sending
    /// its next request as soon as the last one is answered.
    func enqueueRate(_ store: SQLiteStore, requests: Int, connections: Int) async throws -> Double {
        try await withServer(on: store) { port in
            let elapsed = try await Self.onThreads(connections) { connection in
                let client = try HTTPConnection(port: port)
                for _ in stride(from: connection, to: requests, by: connections) {
                    try client.expect(201, try client.post("/queue/tasks", #"{"type":"bench","payload":{"n":1}}"#))
                }
            }
            return Double(requests) / BenchCommand.seconds(elapsed)
        }
    }

    /// Enqueue response times in milliseconds at `rate` requests per second offered over
    /// `connections` connections, each from the time the request was due (so a slow answer
    /// also delays the requests behind it, as it would a real client).
    func enqueueLatencies(_ store: SQLiteStore, rate: Int, requests: Int, connections: Int) async throws -> [Double] {
        try await withServer(on: store) { port in
            let samples = Mutex<[Double]>([])
            let start = ContinuousClock.now + .milliseconds(50)
            _ = try await Self.onThreads(connections) { connection in
                let client = try HTTPConnection(port: port)
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
    }

    /// Tasks per second claimed and completed over HTTP by `connections` workers, one task per
    /// claim.
    func claimCompleteRate(_ store: SQLiteStore, tasks: Int, connections: Int) async throws -> Double {
        try await BenchScenario.enqueue(tasks, into: TaskQueue(store: store))
        return try await withServer(on: store) { port in
            let elapsed = try await Self.onThreads(connections) { connection in
                let client = try HTTPConnection(port: port)
                let claim = #"{"worker_id":"bench-\#(connection)","capabilities":["bench"]}"#
                while true {
                    let response = try client.post("/queue/claim", claim)
                    try client.expect(200, response)
                    let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                    guard let task = (object?["tasks"] as? [[String: Any]])?.first else { return }
                    guard let id = task["id"] as? Int, let token = task["lease_token"] as? Int else {
                        throw ValidationError("A claimed task without its id or lease token: \(response.body)")
                    }
                    try client.expect(
                        200, try client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#))
                }
            }
            return Double(tasks) / BenchCommand.seconds(elapsed)
        }
    }

    /// Runs `body` with the port of a `prismq serve` on the store's database.
    private func withServer<T>(on store: SQLiteStore, _ body: (Int) async throws -> T) async throws -> T {
        let (server, port) = try await processes.startServer(on: store)
        defer { server.stop() }
        return try await body(port)
    }

    /// Runs `body(index)` on `count` threads at once and returns when all finished.
    private static func onThreads(
        _ count: Int, _ body: @escaping @Sendable (Int) throws -> Void
    ) async throws -> Duration {
        let start = ContinuousClock.now
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
        return ContinuousClock.now - start
    }
}

/// One keep-alive HTTP/1.1 connection to 127.0.0.1 on blocking sockets: just enough client
/// for the bench's load.
final class HTTPConnection {
    private let socket: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw ValidationError("Cannot connect to 127.0.0.1:\(port).")
        }
        var noDelay: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(socket)
    }

    /// Posts a JSON body and returns the status and body of the answer.
    func post(_ path: String, _ body: String) throws -> (status: Int, body: String) {
        let request =
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
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
