import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PrismQ
import PrismQWire

/// The REST contract's routes over a ``PrismQ/TaskQueue``.
struct QueueAPI: Sendable {
    let queue: TaskQueue
    let configuration: ServerConfiguration
    /// The long-poll claims waiting for work.
    let waitRoom: ClaimWaitRoom
    /// Bounds the writes waiting for the store.
    let writeGate: WriteGate

    init(queue: TaskQueue, configuration: ServerConfiguration) {
        self.queue = queue
        self.configuration = configuration
        self.waitRoom = ClaimWaitRoom(
            queue: queue, limit: configuration.maxClaimWaiters, recheck: configuration.claimRecheck)
        self.writeGate = WriteGate(limit: configuration.maxPendingWrites)
    }

    /// The largest body of a single-task request: the queue's payload limit plus 64 KiB.
    var maxBodyBytes: Int { queue.limits.maxPayloadBytes + 64 << 10 }
    /// The largest body of a batch: 32 MiB, or one task's largest body if that is more.
    var maxBatchBodyBytes: Int { max(32 << 20, maxBodyBytes) }

    /// Every route the server answers, as `METHOD path` with `{id}` for the task id: the list
    /// the OpenAPI document is checked against.
    static let routes: [String] = [
        "GET /health", "GET /metrics", "GET /openapi.yaml",
        "POST /queue/tasks", "POST /queue/tasks/batch", "GET /queue/tasks", "GET /queue/tasks/{id}",
        "POST /queue/tasks/{id}/cancel", "POST /queue/tasks/{id}/retry", "GET /queue/stats",
        "POST /queue/claim", "POST /queue/tasks/{id}/heartbeat", "POST /queue/tasks/{id}/complete",
        "POST /queue/tasks/{id}/fail", "POST /queue/tasks/{id}/release", "POST /queue/settle",
        "GET /queue/workers", "GET /queue/tasks/{id}/logs", "GET /queue/throughput",
        "GET /",
    ]

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/queue/tasks") { request, context in try await enqueue(request, context) }
        router.post("/queue/tasks/batch") { request, context in try await enqueueBatch(request, context) }
        router.get("/queue/tasks") { request, _ in try await list(request) }
        router.get("/queue/tasks/{id}") { _, context in
            Self.json(try await queue.task(id: try Self.id(context)).json())
        }
        router.post("/queue/tasks/{id}/cancel") { _, context in
            let id = try Self.id(context)
            try writeGate.enter()
            defer { writeGate.leave() }
            return Self.json(try await queue.cancel(id: id).json())
        }
        router.post("/queue/tasks/{id}/retry") { _, context in
            let id = try Self.id(context)
            try writeGate.enter()
            defer { writeGate.leave() }
            return Self.json(try await queue.retry(id: id).json())
        }
        router.get("/queue/stats") { _, _ in Self.json(try await queue.stats().json) }
        router.get("/queue/tasks/{id}/logs") { _, context in
            var writer = JSONWriter()
            writer.add("logs", raw: JSONText.array(try await queue.logs(taskID: try Self.id(context)).map(\.json)))
            return Self.json(writer.json)
        }
        router.get("/queue/throughput") { request, _ in
            let text = request.uri.queryParameters.get("minutes") ?? "30"
            guard let minutes = Int(text) else { throw APIError.invalid("minutes must be an integer.") }
            var writer = JSONWriter()
            writer.add("minutes", raw: JSONText.array(try await queue.throughput(minutes: minutes).map(\.json)))
            return Self.json(writer.json)
        }
        router.post("/queue/claim") { request, context in try await claim(request, context) }
        router.post("/queue/tasks/{id}/heartbeat") { request, context in try await heartbeat(request, context) }
        router.post("/queue/tasks/{id}/complete") { request, context in try await complete(request, context) }
        router.post("/queue/tasks/{id}/fail") { request, context in try await fail(request, context) }
        router.post("/queue/tasks/{id}/release") { request, context in try await release(request, context) }
        router.post("/queue/settle") { request, _ in try await settle(request) }
        router.get("/queue/workers") { _, _ in
            var writer = JSONWriter()
            writer.add("workers", raw: JSONText.array(try await queue.workers().map(\.json)))
            return Self.json(writer.json)
        }
    }

    // MARK: Producer endpoints

    private func enqueue(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Self.body(request, limit: maxBodyBytes)
        var task = try NewTask(wire: body)
        if let header = request.headers[.idempotencyKey] {
            if let key = task.idempotencyKey, key != header {
                throw APIError.invalid("The Idempotency-Key header and idempotency_key differ.")
            }
            task.idempotencyKey = header
        }
        try writeGate.enter()
        defer { writeGate.leave() }
        let result = try await queue.enqueue(task)
        return Self.json(result.task.json(), status: result.created ? .created : .ok)
    }

    private func enqueueBatch(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Self.body(request, limit: maxBatchBodyBytes)
        try body.allowOnly(["tasks"])
        guard let items = try body.objects("tasks") else { throw APIError.invalid("'tasks' is required.") }
        let tasks = try items.map { item throws(QueueError) in try NewTask(wire: item) }
        try writeGate.enter()
        defer { writeGate.leave() }
        let results = try await queue.enqueue(batch: tasks)
        var writer = JSONWriter()
        writer.add("tasks", raw: JSONText.array(results.map { $0.task.json() }))
        return Self.json(writer.json, status: .created)
    }

    private func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let known: Set<String> = ["status", "type", "limit", "cursor", "payload_field"]
        if let unknown = query.map({ String($0.key) }).first(where: { !known.contains($0) }) {
            throw APIError.invalid("Unknown query parameter '\(unknown)'.")
        }
        let status = try query.get("status").map { text throws(QueueError) in
            guard TaskStatus.allCases.contains(TaskStatus(rawValue: text)) else {
                throw QueueError(.invalidArgument, "Unknown status '\(text)'.")
            }
            return TaskStatus(rawValue: text)
        }
        let limit = try query.get("limit").map { text throws(QueueError) in
            guard let limit = Int(text) else { throw QueueError(.invalidArgument, "The limit must be an integer.") }
            return limit
        }
        let page = PageRequest(
            limit: limit ?? 100,
            cursor: try query.get("cursor").map { text throws(QueueError) in try PageCursor(parsing: text) }
        )
        let filter = TaskFilter(
            status: status, type: query.get("type"),
            payload: try query.get("payload_field").map { text throws(QueueError) in try PayloadMatch(parsing: text) }
        )
        return Self.json(try await listPage(filter, page))
    }

    /// The most bytes of tasks one `GET /queue/tasks` answer carries: a page that would be
    /// larger ends early, with a `next_cursor` (always at least one task).
    static let maxListBytes = 8 << 20

    /// A page of the list as JSON, read from the store in pieces sized from the budget left
    /// (each task counted at its largest: payload and result at the limit), so that neither
    /// the answer nor what is held to build it grows much past ``maxListBytes``.
    private func listPage(_ filter: TaskFilter, _ page: PageRequest) async throws -> String {
        try TaskValidation.validate(page)  // before the first piece, which asks for fewer
        var tasks: [String] = []
        var bytes = 0
        var cursor = page.cursor
        var next: PageCursor?
        reading: while true {
            // As many tasks as the rest of the budget holds even if each is as large as allowed.
            let largest = 2 * queue.limits.maxPayloadBytes + (64 << 10)
            let fits = max(1, (Self.maxListBytes - bytes) / largest)
            let piece = PageRequest(limit: min(page.limit - tasks.count, 50, fits), cursor: cursor)
            let chunk = try await queue.tasks(matching: filter, page: piece)
            for task in chunk.tasks {
                let json = task.json()
                if !tasks.isEmpty, bytes + json.utf8.count > Self.maxListBytes {
                    next = cursor
                    break reading
                }
                tasks.append(json)
                bytes += json.utf8.count
                cursor = PageCursor(lastID: task.id)
            }
            next = chunk.nextCursor
            guard next != nil, tasks.count < page.limit else { break }
        }
        var writer = JSONWriter()
        writer.add("tasks", raw: JSONText.array(tasks))
        writer.add("next_cursor", next?.description)
        return writer.json
    }

    // MARK: Helpers

    /// The task id in the path: a positive integer.
    static func id(_ context: some RequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw APIError.invalid("The task id must be a positive integer.")
        }
        return id
    }

    /// The request's JSON object body, refused with 413 when larger than `limit` (by its
    /// Content-Length before anything is read, else as it arrives) and 415 unless it is JSON.
    static func body(_ request: Request, limit: Int) async throws -> JSONBody {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "The request body is larger than \(limit) bytes.")
        }
        let buffer = try await request.body.collect(upTo: limit)
        guard ContentType.isJSON(request.headers[.contentType]) else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
        }
        return try JSONBody.decode(Array(buffer.readableBytesView))
    }

    /// A JSON response.
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
