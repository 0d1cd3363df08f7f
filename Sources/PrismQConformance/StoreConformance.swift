import Foundation
import PrismQ

/// Makes a fresh, empty store for one check, reading "now" from `clock`, with every other
/// setting at its default (workers go stale after 30 s).
public typealias StoreFactory = @Sendable (_ clock: ManualClock) async throws -> any QueueStore

/// The behaviour every store must show, as checks a test target runs against its own store:
///
/// ```swift
/// @Test(arguments: StoreConformance.checks)
/// func conforms(_ check: ConformanceCheck) async throws {
///     try await check.run { clock in try makeMyStore(clock: clock) }
/// }
/// ```
///
/// The checks use only the public API, through ``PrismQ/TaskQueue`` as every caller does; they
/// move time with the injected clock and assume nothing of ids but that they grow.
public enum StoreConformance {
    /// Every check, named.
    public static let checks: [ConformanceCheck] =
        ProducerChecks.all + ClaimChecks.all + LeaseChecks.all + SettleChecks.all + OperationsChecks.all
}

/// One behaviour a store must show.
public struct ConformanceCheck: Sendable, CustomStringConvertible {
    /// What the check shows, as a sentence in camel case.
    public let name: String
    let body: @Sendable (StoreHarness) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (StoreHarness) async throws -> Void) {
        self.name = name
        self.body = body
    }

    public var description: String { name }

    /// Runs the check on a fresh store from `factory`.
    ///
    /// - Throws: a ``ConformanceFailure`` naming the first expectation that did not hold, or
    ///   the store's own error.
    public func run(on factory: StoreFactory) async throws {
        let clock = ManualClock()
        try await body(StoreHarness(store: try await factory(clock), clock: clock))
    }
}

/// An expectation of a conformance check that did not hold.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// What was expected, and where.
    public let description: String
}

/// A store under test, its clock, and the helpers the checks share.
struct StoreHarness: Sendable {
    let store: any QueueStore
    let clock: ManualClock
    /// The queue over the store, retrying a failed attempt after 4 s.
    let queue: TaskQueue

    init(store: any QueueStore, clock: ManualClock) {
        self.store = store
        self.clock = clock
        var configuration = TaskQueueConfiguration()
        configuration.retryPolicy = .fixed(.seconds(4))
        queue = TaskQueue(store: store, configuration: configuration)
    }

    /// Claims as `worker` would.
    func claim(
        _ strategy: SchedulingStrategy = .fifo, types: [String] = [], max: Int = 1, worker: String = "w1",
        lease: Duration = .seconds(10)
    ) async throws -> [Lease] {
        try await queue.claim(
            ClaimRequest(workerID: worker, capabilities: types, strategy: strategy, leaseDuration: lease, maxTasks: max)
        )
    }

    /// Enqueues one task per priority, a millisecond apart, and returns their ids in order.
    func enqueue(priorities: [Int], type: String = "t") async throws -> [Int64] {
        var ids: [Int64] = []
        for priority in priorities {
            ids.append(try await queue.enqueue(NewTask(type: type, priority: priority)).task.id)
            clock.advance(by: .milliseconds(1))
        }
        return ids
    }

    /// Enqueues a task of a type of its own and claims it: a running task, its lease held by
    /// `worker`.
    func runningTask(
        worker: String = "w1", maxAttempts: Int = 3, lease: Duration = .seconds(10)
    ) async throws -> Lease {
        let type = "solo-" + UUID().uuidString.prefix(8).lowercased()
        let task = try await queue.enqueue(NewTask(type: type, maxAttempts: maxAttempts)).task
        let leases = try await claim(types: [type], worker: worker, lease: lease)
        return try require(leases.first { $0.task.id == task.id }, "the new task is claimed")
    }

    /// A task that ended in `status` (`completed`, `dead` or `cancelled`) through the API.
    func finishedTask(_ status: TaskStatus, worker: String = "w1") async throws -> QueueTask {
        if status == .cancelled {
            return try await queue.cancel(id: try await queue.enqueue(NewTask(type: "t")).task.id)
        }
        let lease = try await runningTask(worker: worker, maxAttempts: 1)
        switch status {
        case .completed: return try await queue.complete(lease.id, result: nil)
        case .dead: return try await queue.fail(lease.id, error: "failed for good", retryable: false)
        default: throw ConformanceFailure(description: "no finished task is \(status)")
        }
    }
}

/// Fails the check unless `condition` holds.
func expect(
    _ condition: Bool, _ message: @autoclosure () -> String = "", file: StaticString = #fileID, line: UInt = #line
) throws {
    guard condition else {
        throw ConformanceFailure(description: "\(file):\(line): expectation failed \(message())")
    }
}

/// Fails the check unless `body` throws a ``QueueError`` with `code`.
func expect<T>(
    throws code: QueueError.Code, file: StaticString = #fileID, line: UInt = #line,
    _ body: () async throws -> T
) async throws {
    do {
        _ = try await body()
    } catch let error as QueueError where error.code == code {
        return
    } catch {
        throw ConformanceFailure(description: "\(file):\(line): expected \(code), got \(error)")
    }
    throw ConformanceFailure(description: "\(file):\(line): expected \(code), but nothing was thrown")
}

/// The value, or a failure of the check.
func require<T>(
    _ value: T?, _ message: @autoclosure () -> String = "", file: StaticString = #fileID, line: UInt = #line
) throws -> T {
    guard let value else {
        throw ConformanceFailure(description: "\(file):\(line): required value missing \(message())")
    }
    return value
}
