import Foundation

/// What names a lease: the task and the fencing token of one claim.
///
/// Only the current token may renew, complete, fail or release the task; any other gets
/// `leaseLost` and changes nothing.
public struct LeaseID: Sendable, Hashable, CustomStringConvertible {
    /// The claimed task.
    public var taskID: Int64
    /// The fencing token issued by the claim.
    public var token: Int64

    /// Names a lease.
    public init(taskID: Int64, token: Int64) {
        self.taskID = taskID
        self.token = token
    }

    public var description: String { "task \(taskID) (token \(token))" }
}

/// A claimed task: the task as it is now `running`, and the lease on it.
public struct Lease: Sendable, Hashable {
    /// The task, with `attempts` already counting this claim.
    public var task: QueueTask
    /// The lease's id, for renew / complete / fail / release.
    public var id: LeaseID
    /// When the lease runs out unless renewed.
    public var expiresAt: Date

    /// Makes a lease.
    public init(task: QueueTask, id: LeaseID, expiresAt: Date) {
        self.task = task
        self.id = id
        self.expiresAt = expiresAt
    }
}

/// What a worker asks for when it claims.
public struct ClaimRequest: Sendable, Hashable {
    /// The claiming worker's id.
    public var workerID: String
    /// The task types it handles; empty means any.
    public var capabilities: [String]
    /// How it picks among ready tasks.
    public var strategy: SchedulingStrategy
    /// How long the lease lasts unless renewed.
    public var leaseDuration: Duration
    /// The most tasks to claim at once (1–100 over HTTP; up to 1000 in process).
    public var maxTasks: Int
    /// How long the claim may wait for a task when none is ready (0–30 s): a long-poll, for
    /// stores that cannot watch for commits (a server over HTTP). SQLite answers at once; its
    /// pools wait on ``ReadinessStore/watchCommits(_:)`` instead.
    public var wait: Duration = .zero

    /// A claim request; by default one task of any type, FIFO, with a 30 s lease.
    public init(
        workerID: String, capabilities: [String] = [], strategy: SchedulingStrategy = .fifo,
        leaseDuration: Duration = .seconds(30), maxTasks: Int = 1
    ) {
        self.workerID = workerID
        self.capabilities = capabilities
        self.strategy = strategy
        self.leaseDuration = leaseDuration
        self.maxTasks = maxTasks
    }

    /// Checks the request: a worker id of 1–256 characters, valid capability types, 1–1000
    /// tasks and a positive lease.
    public func validate() throws(QueueError) {
        try TaskValidation.validateWorkerID(workerID)
        try TaskValidation.validateCapabilities(capabilities)
        guard SchedulingStrategy.allCases.contains(strategy) else {
            throw QueueError(.invalidArgument, "Unknown strategy '\(strategy)'.")
        }
        guard (1...1000).contains(maxTasks) else {
            throw QueueError(.invalidArgument, "A claim takes 1 to 1000 tasks.")
        }
        try TaskValidation.validateLease(leaseDuration)
        guard wait >= .zero, wait <= .seconds(30) else {
            throw QueueError(.invalidArgument, "A claim waits 0 to 30 seconds.")
        }
    }
}

/// The outcome of renewing one lease.
public enum LeaseRenewal: Sendable, Hashable {
    /// The lease now runs until `expiresAt`; `cancelRequested` says the task should stop.
    case renewed(expiresAt: Date, cancelRequested: Bool)
    /// The token is no longer current: the task passed on, finished or was swept.
    case lost
}

/// How a worker introduces itself to the registry.
public struct WorkerRegistration: Sendable, Hashable {
    /// The worker's id, unique among live workers.
    public var id: String
    /// The host it runs on.
    public var hostname: String?
    /// Its process id.
    public var pid: Int?
    /// The task types it handles; empty means any.
    public var capabilities: [String]
    /// The strategy it claims with.
    public var strategy: SchedulingStrategy?

    /// Describes a worker.
    public init(
        id: String, hostname: String? = nil, pid: Int? = nil, capabilities: [String] = [],
        strategy: SchedulingStrategy? = nil
    ) {
        self.id = id
        self.hostname = hostname
        self.pid = pid
        self.capabilities = capabilities
        self.strategy = strategy
    }
}
