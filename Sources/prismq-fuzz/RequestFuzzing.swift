import Foundation
import PrismQ
import PrismQWire

/// What one fuzz input exercises: its first byte picks a decoder (modulo 5), the rest is a
/// request body or a query value. Bad input must be refused with `invalidArgument`; what is
/// accepted must survive the trip back through the client's encoding (`WireRequests.swift`)
/// unchanged, and a body the parser accepts must be JSON to Foundation's parser too. A broken
/// invariant stops the process (libFuzzer saves the input).
enum RequestFuzzing {
    static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let rest = Array(input.dropFirst())
        switch selector % 5 {
        case 0: task(rest)
        case 1: batch(rest)
        case 2: claim(rest)
        case 3: settle(rest)
        default: query(String(decoding: rest, as: UTF8.self))
        }
    }

    /// The body of `POST /queue/tasks`, as the route decodes it, then the queue's validation.
    private static func task(_ bytes: [UInt8]) {
        guard let body = decode(bytes), let task = accepted({ () throws(QueueError) in try NewTask(wire: body) }),
            accepted({ () throws(QueueError) in try TaskValidation().validate(task) }) != nil
        else { return }
        let again = roundTrip(task.wireJSON) { body throws(QueueError) in try NewTask(wire: body) }
        check(same(task, again), "a task changed on its way back: \(task) became \(again)")
    }

    /// The body of `POST /queue/tasks/batch`.
    private static func batch(_ bytes: [UInt8]) {
        guard let body = decode(bytes), (try? body.allowOnly(["tasks"])) != nil,
            let items = try? body.objects("tasks")
        else { return }
        let tasks = items.compactMap { item in accepted { () throws(QueueError) in try NewTask(wire: item) } }
        _ = accepted { () throws(QueueError) in try TaskValidation().validate(batch: tasks) }
    }

    /// The body of `POST /queue/claim` (less `wait_seconds`), and the `claim` of a settle.
    private static func claim(_ bytes: [UInt8]) {
        guard let body = decode(bytes),
            accepted({ () throws(QueueError) in try body.allowOnly(ClaimRequest.wireFields) }) != nil,
            let claim = accepted({ () throws(QueueError) in try ClaimRequest(wire: body) })
        else { return }
        let again = roundTrip(claim.wireJSON(waiting: false)) { body throws(QueueError) in
            try ClaimRequest(wire: body)
        }
        check(
            again.workerID == claim.workerID && again.capabilities == claim.capabilities
                && again.strategy == claim.strategy && again.maxTasks == claim.maxTasks
                && close(again.leaseDuration, claim.leaseDuration),
            "a claim changed on its way back: \(claim) became \(again)")
    }

    /// The body of `POST /queue/settle`: its outcomes.
    private static func settle(_ bytes: [UInt8]) {
        guard let body = decode(bytes), let items = try? body.objects("outcomes") else { return }
        for item in items {
            guard let settlement = accepted({ () throws(QueueError) in try Settlement(wire: item) }) else { continue }
            let again = roundTrip(settlement.wireJSON(retrying: true)) { body throws(QueueError) in
                try Settlement(wire: body)
            }
            check(again == settlement, "an outcome changed on its way back: \(settlement) became \(again)")
        }
    }

    /// The query values of `GET /queue/tasks` and a task's `run_after`: each accepted value
    /// reads back the same once written.
    private static func query(_ text: String) {
        if let cursor = try? PageCursor(parsing: text) {
            check((try? PageCursor(parsing: cursor.description)) == cursor, "cursor \(text) does not read back")
        }
        if let match = try? PayloadMatch(parsing: text) {
            check(
                (try? PayloadMatch(parsing: "\(match.field)=\(match.value.text)")) == match,
                "payload_field \(text) does not read back")
        }
        if let date = try? RFC3339.date(from: text) {
            let again = try? RFC3339.date(from: RFC3339.string(from: date))
            check(
                again.map { abs($0.timeIntervalSince(date)) < 0.001 } == true,
                "time \(text) does not read back: \(RFC3339.string(from: date))")
        }
        _ = try? TaskValidation.validateType(text)
    }

    /// A body as the server reads it; one it accepts must be JSON to Foundation too.
    private static func decode(_ bytes: [UInt8]) -> JSONBody? {
        let body: JSONBody
        do {
            body = try JSONBody.decode(bytes)
        } catch {
            check(error.code == .invalidArgument, "a body was refused with \(error.code), not invalidArgument")
            return nil
        }
        check(
            (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any],
            "the parser accepted a body Foundation refuses: \(String(decoding: bytes, as: UTF8.self))")
        return body
    }

    /// What `decode` makes of an input, or `nil` when it refuses it as a client's error (400
    /// `invalidArgument`, 413 `payloadTooLarge`); any other refusal is a finding.
    private static func accepted<T>(_ decode: () throws(QueueError) -> T) -> T? {
        do {
            return try decode()
        } catch {
            check(
                error.code == .invalidArgument || error.code == .payloadTooLarge,
                "an input was refused with \(error.code): \(error.message)")
            return nil
        }
    }

    /// `json` (what the client sends) read back by the server's decoder, which must accept it.
    private static func roundTrip<T>(_ json: String, _ read: (JSONBody) throws(QueueError) -> T) -> T {
        do {
            return try read(try JSONBody.decode(Array(json.utf8)))
        } catch {
            fatalError("the server refuses what the client writes: \(json): \(error)")
        }
    }

    private static func same(_ a: NewTask, _ b: NewTask) -> Bool {
        a.type == b.type && a.payload == b.payload && a.priority == b.priority && a.maxAttempts == b.maxAttempts
            && a.idempotencyKey == b.idempotencyKey && close(a.delay, b.delay) && close(a.timeout, b.timeout)
            && a.runAfter.map { $0.millisecondsSince1970 } == b.runAfter.map { $0.millisecondsSince1970 }
    }

    /// Durations equal within a microsecond (they travel as decimal seconds).
    private static func close(_ a: Duration?, _ b: Duration?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let a?, let b?): abs((a - b).inSeconds) < 1e-6
        default: false
        }
    }

    private static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError(message()) }
    }
}
