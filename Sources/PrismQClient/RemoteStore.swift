import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PrismQ
import PrismQWire

/// A store that is a `prismq serve` elsewhere, over its REST API: every call is one request,
/// on async-http-client.
///
/// It plays the roles the REST contract offers, producing (``PrismQ/TaskStore``) and leasing
/// (``PrismQ/LeaseStore``), and no others: a claim registers its worker and a lease renewal
/// refreshes it, and the server sweeps and maintains its own store. Give it to a queue:
/// ```swift
/// let queue = TaskQueue(store: try RemoteStore(url: "http://queue.internal:8080", token: token))
/// ```
/// The server applies its own limits and retry policy (give the queue limits at least as large
/// as the server's, or the queue refuses what the server would take).
public struct RemoteStore: TaskStore, LeaseStore {
    /// The server's base URL, without a trailing slash.
    public let url: String
    private let token: String?
    private let client: HTTPClient

    /// A client for the life of the process that reports a server it cannot connect to at
    /// once (connection refused: no retries until the request's deadline) and gives up
    /// connecting after 10 s.
    public static let failingFast: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(configuration: configuration)
    }()

    /// How long one request may take, answer included: 60 s (a waiting claim waits at most 30 s).
    static let timeout = TimeAmount.seconds(60)

    /// A store on the server at `url` (`http://host:port` or `https://…`), sending `token` as
    /// a bearer token when given, through `client` (default: ``failingFast``).
    ///
    /// - Throws: `invalidArgument` when `url` is not an http(s) URL with a host.
    public init(url: String, token: String? = nil, client: HTTPClient = RemoteStore.failingFast) throws(QueueError) {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard let parsed = URLComponents(string: trimmed), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", parsed.host?.isEmpty == false
        else {
            throw QueueError(.invalidArgument, "'\(url)' is not a server URL: write http://host:port.")
        }
        self.url = trimmed
        self.token = token
        self.client = client
    }

    // MARK: Producer calls

    public func enqueue(_ tasks: [NewTask]) async throws(QueueError) -> [EnqueueResult] {
        if tasks.count == 1 {
            let (status, object) = try await send(.POST, "/queue/tasks", body: tasks[0].wireJSON)
            return [EnqueueResult(task: try WireDecoding.task(object), created: status == 201)]
        }
        let body = "{\"tasks\":" + JSONText.array(tasks.map(\.wireJSON)) + "}"
        let (_, object) = try await send(.POST, "/queue/tasks/batch", body: body)
        return try WireDecoding.tasks(object).map { EnqueueResult(task: $0, created: true) }
    }

    public func task(id: Int64) async throws(QueueError) -> QueueTask {
        try WireDecoding.task(try await send(.GET, "/queue/tasks/\(id)").1)
    }

    public func tasks(matching filter: TaskFilter, page: PageRequest) async throws(QueueError) -> TaskPage {
        var query = [URLQueryItem(name: "limit", value: String(page.limit))]
        if let status = filter.status { query.append(URLQueryItem(name: "status", value: status.rawValue)) }
        if let type = filter.type { query.append(URLQueryItem(name: "type", value: type)) }
        if let match = filter.payload {
            query.append(URLQueryItem(name: "payload_field", value: "\(match.field)=\(match.value.text)"))
        }
        if let cursor = page.cursor { query.append(URLQueryItem(name: "cursor", value: cursor.description)) }
        let object = try await send(.GET, "/queue/tasks", query: query).1
        let next = try (object["next_cursor"] as? String).map { text throws(QueueError) in
            try PageCursor(parsing: text)
        }
        return TaskPage(tasks: try WireDecoding.tasks(object), nextCursor: next)
    }

    public func cancel(id: Int64) async throws(QueueError) -> QueueTask {
        try WireDecoding.task(try await send(.POST, "/queue/tasks/\(id)/cancel", body: "{}").1)
    }

    public func retry(id: Int64) async throws(QueueError) -> QueueTask {
        try WireDecoding.task(try await send(.POST, "/queue/tasks/\(id)/retry", body: "{}").1)
    }

    public func stats() async throws(QueueError) -> QueueStats {
        WireDecoding.stats(try await send(.GET, "/queue/stats").1)
    }

    public func throughput(minutes: Int) async throws(QueueError) -> [ThroughputBucket] {
        let query = [URLQueryItem(name: "minutes", value: "\(minutes)")]
        return WireDecoding.throughput(try await send(.GET, "/queue/throughput", query: query).1)
    }

    public func logs(taskID: Int64) async throws(QueueError) -> [TaskLogEntry] {
        WireDecoding.logs(try await send(.GET, "/queue/tasks/\(taskID)/logs").1, taskID: taskID)
    }

    public func workers() async throws(QueueError) -> [WorkerInfo] {
        WireDecoding.workers(try await send(.GET, "/queue/workers").1)
    }

    // MARK: Worker calls

    public func claim(_ request: ClaimRequest) async throws(QueueError) -> [Lease] {
        try WireDecoding.leases(try await send(.POST, "/queue/claim", body: request.wireJSON()).1)
    }

    /// Renews one lease per request; a lease the server calls lost or unknown is `.lost`.
    public func renew(_ leases: [LeaseID], for duration: Duration) async throws(QueueError) -> [LeaseRenewal] {
        var renewals: [LeaseRenewal] = []
        for lease in leases {
            var writer = JSONWriter()
            writer.add("lease_token", lease.token)
            writer.add("lease_seconds", duration.inSeconds)
            do {
                let object = try await send(.POST, "/queue/tasks/\(lease.taskID)/heartbeat", body: writer.json).1
                renewals.append(
                    .renewed(
                        expiresAt: WireDecoding.date(object["lease_expires_at"]) ?? Date(),
                        cancelRequested: object["cancel_requested"] as? Bool ?? false
                    )
                )
            } catch  where error.code == .leaseLost || error.code == .notFound {
                renewals.append(.lost)
            }
        }
        return renewals
    }

    public func complete(_ lease: LeaseID, result: RawJSON?) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        writer.add("result", raw: result?.text)
        return try WireDecoding.task(
            try await send(.POST, "/queue/tasks/\(lease.taskID)/complete", body: writer.json).1)
    }

    /// Fails over HTTP; the server applies its own retry policy, so `retryPolicy` only says
    /// whether to retry at all.
    public func fail(
        _ lease: LeaseID, error: String, retryable: Bool, retryPolicy: RetryPolicy
    ) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        writer.add("error", error)
        writer.add("retryable", retryable && retryPolicy != .none)
        return try WireDecoding.task(
            try await send(.POST, "/queue/tasks/\(lease.taskID)/fail", body: writer.json).1)
    }

    public func release(_ lease: LeaseID) async throws(QueueError) -> QueueTask {
        var writer = JSONWriter()
        writer.add("lease_token", lease.token)
        return try WireDecoding.task(
            try await send(.POST, "/queue/tasks/\(lease.taskID)/release", body: writer.json).1)
    }

    /// Settles through `POST /queue/settle`: each request carries up to 100 outcomes and 24 MiB
    /// of them (see ``requests(sizes:maxBytes:)``), the last one also the claim, each in one
    /// transaction on the server. A claim alone goes through `POST /queue/claim`, where it may
    /// wait.
    public func settle(
        _ settlements: [Settlement], retryPolicy: RetryPolicy, thenClaim request: ClaimRequest?
    ) async throws(QueueError) -> SettleResult {
        if settlements.isEmpty {
            guard let request else { return SettleResult(outcomes: [], leases: []) }
            return SettleResult(outcomes: [], leases: try await claim(request))
        }
        let items = settlements.map { $0.wireJSON(retrying: retryPolicy != .none) }
        var result = SettleResult(outcomes: [], leases: [])
        for chunk in Self.requests(sizes: items.map(\.utf8.count)) {
            var writer = JSONWriter()
            writer.add("outcomes", raw: JSONText.array(Array(items[chunk])))
            if chunk.upperBound == items.count, let request {
                writer.add("claim", raw: request.wireJSON(waiting: false))
            }
            let answer = try WireDecoding.settleResult(try await send(.POST, "/queue/settle", body: writer.json).1)
            guard answer.taskIDs == settlements[chunk].map(\.lease.taskID) else {
                throw QueueError(.storage, "The server's settle answer does not match the outcomes sent.")
            }
            result.outcomes += answer.result.outcomes
            result.leases += answer.result.leases
        }
        return result
    }

    /// Splits outcomes of these encoded sizes into requests, in order: each holds at most 100
    /// and `maxBytes` of them (well under the server's 32 MiB limit on a settle's body), or
    /// one alone that is larger.
    package static func requests(sizes: [Int], maxBytes: Int = 24 << 20) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = 0
        while start < sizes.count {
            var end = start + 1
            var bytes = sizes[start]
            while end < sizes.count, end - start < 100, bytes + sizes[end] <= maxBytes {
                bytes += sizes[end]
                end += 1
            }
            chunks.append(start..<end)
            start = end
        }
        return chunks
    }

    // MARK: HTTP

    /// Sends a request and returns the status and the JSON object answered, or the server's
    /// error as a ``PrismQ/QueueError``.
    private func send(
        _ method: HTTPMethod, _ path: String, query: [URLQueryItem] = [], body: String? = nil
    ) async throws(QueueError) -> (Int, [String: Any]) {
        var components = URLComponents(string: url + path)
        if !query.isEmpty { components?.queryItems = query }
        guard let target = components?.string else {
            throw QueueError(.invalidArgument, "Cannot make a request URL from \(url)\(path).")
        }
        var request = HTTPClientRequest(url: target)
        request.method = method
        // The server refuses a POST that is not JSON, even one without a body.
        if body != nil || method == .POST {
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let status: Int
        let data: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: Self.timeout)
            status = Int(response.status.code)
            data = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw QueueError(.storage, "Cannot reach the server at \(url): \(error).")
        }
        let object =
            (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
        guard (200..<300).contains(status) else { throw WireDecoding.error(object, status: status) }
        return (status, object)
    }
}
