import ArgumentParser
import Foundation
import PrismQ
import PrismQHarness
import PrismQSQLite
import Synchronization

/// The `load` section: `prismq serve` held at a sustained, mixed load for a while, its memory
/// and WAL watched; then idle connections by the thousand, and a stalled writer under a burst.
struct BenchLoad {
    let processes: BenchProcesses

    /// The requests of the mixed load, in the order of the table.
    enum Kind: String, CaseIterable, Sendable {
        case enqueue = "POST /queue/tasks"
        case claim = "POST /queue/claim (max 4)"
        case complete = "POST /queue/tasks/{id}/complete"
        case stats = "GET /queue/stats"
        case list = "GET /queue/tasks?status=queued&limit=50"
        case workers = "GET /queue/workers"
        case throughput = "GET /queue/throughput"
    }

    /// What the requests of one kind saw.
    struct Outcomes: Sendable {
        /// Each answered request's response time, in milliseconds.
        var latencies: [Double] = []
        /// Answers with another status than the one expected.
        var errors = 0
    }

    /// One look at the server, each second.
    struct Sample: Sendable {
        /// Seconds since the load began.
        var seconds: Double
        /// The server's resident memory, in MB, and its anonymous part (the heap: SQLite's page
        /// caches among it, not the mapped file or code).
        var residentMB: Double
        var anonymousMB: Double
        /// The size of the queue's database and WAL files, in MB.
        var databaseMB: Double
        var walMB: Double
        /// Requests answered so far.
        var requests: Int
    }

    /// What one sustained run measured.
    struct Sustained: Sendable {
        var outcomes: [Kind: Outcomes]
        var samples: [Sample]
        /// From the first request due to the last enqueue or completion answered (the drain
        /// included).
        var elapsed: Duration
        /// Enqueues acknowledged (201), tasks in the database afterwards, and those completed.
        var acknowledged: Int
        var stored: Int
        var completed: Int
    }

    /// A sustained mixed load on a fresh `prismq serve`: 4 producers offer `rate` enqueues a
    /// second in all, each request due at its time (its latency counts from then, so a slow
    /// answer also delays those behind it); 4 workers claim up to 4 tasks and complete each
    /// until the producers are done and the queue is empty; a dashboard reads stats, a page of
    /// queued tasks, the workers and the throughput 4 times a second. The server's memory and
    /// the WAL are sampled every second.
    func sustained(_ store: SQLiteStore, rate: Int, for duration: Duration) async throws -> Sustained {
        let (server, port) = try await processes.startServer(on: store)
        defer { server.stop() }
        let (producers, workers) = (4, 4)
        let clients = try (0..<producers + workers + 1).map { _ in try HTTPConnection(port: port) }
        let record = Locked<[Kind: Outcomes]>([:])
        let answered = Atomic(0)
        let acknowledged = Atomic(0)
        let producing = Atomic(producers)
        let samples = Locked<[Sample]>([])
        let lastAnswer = Locked(ContinuousClock.now)
        let start = ContinuousClock.now + .milliseconds(100)
        let end = start + duration
        let wal = store.path + "-wal"

        /// Sends a request on `client`, timed from `since` (now by default), and counts it.
        @Sendable func call(
            _ kind: Kind, _ client: HTTPConnection, expect status: Int, since: ContinuousClock.Instant? = nil,
            _ request: () throws -> (status: Int, body: String)
        ) rethrows -> (status: Int, body: String) {
            let sent = since ?? ContinuousClock.now
            let response = try request()
            let milliseconds = BenchCommand.seconds(ContinuousClock.now - sent) * 1000
            record.withLock { record in
                record[kind, default: Outcomes()].latencies.append(milliseconds)
                if response.status != status { record[kind, default: Outcomes()].errors += 1 }
            }
            answered.wrappingAdd(1, ordering: .relaxed)
            if kind == .enqueue || kind == .complete { lastAnswer.withLock { $0 = max($0, ContinuousClock.now) } }
            return response
        }

        try await BenchHTTP.onThreads(producers + workers + 2) { index in
            if index < producers {
                defer { producing.wrappingSubtract(1, ordering: .relaxed) }
                let client = clients[index]
                var sequence = 0
                while true {
                    let due = start + .nanoseconds(Int64(sequence * producers + index) * 1_000_000_000 / Int64(rate))
                    guard due < end else { return }
                    Self.sleep(until: due)
                    let body =
                        #"{"type":"load","payload":{"order":\#(sequence),"producer":\#(index),"#
                        + #""customer":"c-\#(sequence % 997)","items":["sku-1","sku-2"],"note":"mixed load"}}"#
                    let response = try call(.enqueue, client, expect: 201, since: due) {
                        try client.post("/queue/tasks", body)
                    }
                    if response.status == 201 { acknowledged.wrappingAdd(1, ordering: .relaxed) }
                    sequence += 1
                }
            } else if index < producers + workers {
                let client = clients[index]
                let claim = #"{"worker_id":"load-\#(index - producers)","max_tasks":4}"#
                let giveUp = end + .seconds(60)
                while ContinuousClock.now < giveUp {
                    let finished = producing.load(ordering: .relaxed) == 0
                    let response = try call(.claim, client, expect: 200) { try client.post("/queue/claim", claim) }
                    let leases = response.status == 200 ? try BenchHTTP.leases(response.body) : []
                    if leases.isEmpty {
                        if finished { return }
                        Thread.sleep(forTimeInterval: 0.01)  // as an idle worker polls, at most 100 times a second
                    }
                    for (id, token) in leases {
                        _ = try call(.complete, client, expect: 200) {
                            try client.post("/queue/tasks/\(id)/complete", #"{"lease_token":\#(token)}"#)
                        }
                    }
                }
            } else if index == producers + workers {
                let client = clients[index]
                let reads: [(Kind, String)] = [
                    (.stats, "/queue/stats"), (.list, "/queue/tasks?status=queued&limit=50"),
                    (.workers, "/queue/workers"), (.throughput, "/queue/throughput?minutes=30"),
                ]
                var tick = start
                while tick < end {
                    Self.sleep(until: tick)
                    for (kind, path) in reads { _ = try call(kind, client, expect: 200) { try client.get(path) } }
                    tick += .milliseconds(250)
                }
            } else {
                var tick = start
                while tick < end + .seconds(60), producing.load(ordering: .relaxed) > 0 || tick <= end {
                    Self.sleep(until: tick)
                    let sample = Sample(
                        seconds: BenchCommand.seconds(tick - start), residentMB: try server.memoryMegabytes("VmRSS"),
                        anonymousMB: try server.memoryMegabytes("RssAnon"), databaseMB: Self.megabytes(of: store.path),
                        walMB: Self.megabytes(of: wal), requests: answered.load(ordering: .relaxed))
                    samples.withLock { $0.append(sample) }
                    tick += .seconds(1)
                }
            }
        }
        let elapsed = lastAnswer.withLock { $0 } - start
        let stats = try await TaskQueue(store: store).stats()
        return Sustained(
            outcomes: record.withLock { $0 }, samples: samples.withLock { $0 }, elapsed: elapsed,
            acknowledged: acknowledged.load(ordering: .relaxed), stored: stats.byStatus.values.reduce(0, +),
            completed: stats.byStatus[.completed] ?? 0)
    }

    /// What `count` idle connections cost the server, and how it answers meanwhile.
    struct Idle: Sendable {
        var connections: Int
        var residentBeforeMB: Double
        /// The server's resident memory with the connections open, and after they closed, in
        /// each of two rounds (memory the first round took is reused by the second).
        var residentWithMB: [Double] = []
        var residentAfterMB: [Double] = []
        /// 200 enqueues one at a time on another connection while they are open, in ms.
        var enqueueLatencies: [Double] = []
    }

    /// Opens `count` connections that send nothing to a fresh `prismq serve`, twice, and
    /// measures its memory before, with them, and after they close.
    func idleConnections(_ store: SQLiteStore, count: Int) async throws -> Idle {
        let (server, port) = try await processes.startServer(on: store)
        defer { server.stop() }
        let client = try HTTPConnection(port: port)
        let enqueue = { try client.expect(201, try client.post("/queue/tasks", #"{"type":"idle"}"#)) }
        for _ in 0..<200 { try enqueue() }  // warm: its pools, caches and first maintenance
        try await Task.sleep(for: .seconds(1))
        var idle = Idle(connections: count, residentBeforeMB: try server.memoryMegabytes("VmRSS"))
        let baseline = try server.openDescriptors()
        for _ in 1...2 {
            var sockets: [Int32] = []
            defer { sockets.forEach { close($0) } }
            for _ in 0..<count {
                guard let socket = LoopbackPort.connection(to: port) else {
                    throw ValidationError(
                        "Connection \(sockets.count + 1) of \(count) failed: \(String(cString: strerror(errno))).")
                }
                sockets.append(socket)
            }
            let accepted = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                (try? server.openDescriptors()) ?? 0 >= baseline + count
            }
            guard accepted else { throw ValidationError("The server did not accept all \(count) connections.") }
            try await Task.sleep(for: .seconds(1))
            idle.residentWithMB.append(try server.memoryMegabytes("VmRSS"))
            idle.enqueueLatencies += try (0..<200).map { _ in
                let sent = ContinuousClock.now
                try enqueue()
                return BenchCommand.seconds(ContinuousClock.now - sent) * 1000
            }
            sockets.forEach { close($0) }
            sockets = []
            let released = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                (try? server.openDescriptors()) ?? .max <= baseline + 16  // files it opened meanwhile
            }
            guard released else { throw ValidationError("The server did not close the \(count) connections.") }
            try await Task.sleep(for: .seconds(1))
            idle.residentAfterMB.append(try server.memoryMegabytes("VmRSS"))
        }
        return idle
    }

    /// What a burst of writes did while another connection held SQLite's write lock.
    struct Stall: Sendable {
        var burst: Int
        var limit: Int
        /// Answered 201 once the lock went, and 503 `busy` while it was held.
        var committed: Int
        var refused: Int
        /// Other answers (none expected).
        var other: Int
        /// The most writes `/health` saw waiting.
        var mostPending: Int
        /// From the burst's first request until every refusal was counted, in ms.
        var refusedWithinMS: Double
        var residentPeakMB: Double
    }

    /// `burst` connections each send one enqueue while the bench holds the queue's write lock,
    /// to a `prismq serve --max-pending-writes limit`: `limit` wait, the rest are refused at
    /// once; then the lock goes and the waiting ones commit.
    func stalledWriter(_ store: SQLiteStore, burst: Int, limit: Int) async throws -> Stall {
        let (server, port) = try await processes.startServer(on: store, ["--max-pending-writes", "\(limit)"])
        defer { server.stop() }
        let monitor = try HTTPConnection(port: port)
        let health = { () throws -> [String: Any] in
            let response = try monitor.get("/health")
            return (try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:]
        }
        let connections = try (0..<burst).map { _ in try RawHTTPConnection(port: port) }
        defer { connections.forEach { $0.disconnect() } }
        let lock = try SQLiteWriteLock(path: store.path)
        var locked = true
        defer { if locked { try? lock.release() } }
        let sent = ContinuousClock.now
        for connection in connections {
            connection.send(
                "POST", "/queue/tasks", headers: ["Content-Type: application/json"], body: #"{"type":"burst"}"#)
        }
        var (mostPending, peak) = (0, 0.0)
        let settled = try await eventually(timeout: .seconds(3), every: .milliseconds(5)) {
            let now = try health()
            let (pending, refused) = (now["pending_writes"] as? Int ?? 0, now["refused_writes"] as? Int ?? 0)
            mostPending = max(mostPending, pending)
            peak = max(peak, try server.memoryMegabytes("VmRSS"))
            return pending + refused == burst
        }
        let refusedWithin = BenchCommand.seconds(ContinuousClock.now - sent) * 1000
        try lock.release()
        locked = false
        guard settled else { throw ValidationError("The burst did not settle while the lock was held.") }
        var statuses: [Int: Int] = [:]
        for connection in connections { statuses[await connection.response().status, default: 0] += 1 }
        return Stall(
            burst: burst, limit: limit, committed: statuses[201] ?? 0, refused: statuses[503] ?? 0,
            other: burst - (statuses[201] ?? 0) - (statuses[503] ?? 0), mostPending: mostPending,
            refusedWithinMS: refusedWithin, residentPeakMB: peak)
    }

    private static func sleep(until instant: ContinuousClock.Instant) {
        let wait = instant - ContinuousClock.now
        if wait > .zero { Thread.sleep(forTimeInterval: BenchCommand.seconds(wait)) }
    }

    private static func megabytes(of path: String) -> Double {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Double(size) / 1_048_576
    }
}
