import ArgumentParser
import Foundation
import PrismQ
import PrismQTerminal
import PrismQWire

/// `prismq enqueue`: add one task.
struct EnqueueCommand: QueueCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue a task.",
        discussion:
            "Prints the task. With an idempotency key that already names a task, prints that task and creates nothing."
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The task type: 1–128 characters of [A-Za-z0-9._:-].")
    var type: String

    @Option(
        name: .long, help: "The JSON payload (UTF-8, no byte-order mark): literal JSON, @FILE, or - for standard input."
    )
    var payload: String = "null"

    // `.unconditional`: a negative number is the option's value (`--priority -5`), not an option.
    @Option(name: .long, parsing: .unconditional, help: "Priority, -1000…1000.")
    var priority: Int = 0

    @Option(name: .long, parsing: .unconditional, help: "Seconds from now before the task may run.")
    var delay: Double?

    @Option(name: .customLong("run-after"), help: "The earliest time to run, RFC 3339.")
    var runAfter: String?

    @Option(name: .customLong("max-attempts"), parsing: .unconditional, help: "The attempt budget, 1–100.")
    var maxAttempts: Int = 3

    @Option(name: .customLong("idempotency-key"), help: "A key (1–256 characters) that names the task.")
    var idempotencyKey: String?

    @Option(name: .long, parsing: .unconditional, help: "Seconds one attempt may run.")
    var timeout: Double?

    func newTask() throws(QueueError) -> NewTask {
        NewTask(
            type: type,
            payload: try Parsing.payload(payload),
            priority: priority,
            runAfter: try runAfter.map { text throws(QueueError) in try RFC3339.date(from: text) },
            delay: try delay.map { value throws(QueueError) in
                try Parsing.seconds(value, name: "delay", allowZero: true)
            },
            maxAttempts: maxAttempts,
            idempotencyKey: idempotencyKey,
            timeout: try timeout.map { value throws(QueueError) in
                try Parsing.seconds(value, name: "timeout", allowZero: false)
            }
        )
    }

    var createsDatabase: Bool { true }

    func input() throws(QueueError) -> NewTask {
        let task = try newTask()
        try TaskValidation().validate(task)
        return task
    }

    func run(queue: TaskQueue, input task: NewTask) async throws(QueueError) {
        let result = try await queue.enqueue(task)
        if store.json {
            printLine(result.task.json())
        } else if result.created {
            printLine(
                "Enqueued task \(result.task.id) (\(Formatting.escaped(result.task.type))), \(result.task.status), runs after \(Formatting.time(result.task.runAfter))."
            )
        } else {
            printLine(
                "Task \(result.task.id) already has this idempotency key (\(result.task.status)); nothing created.")
        }
    }
}
