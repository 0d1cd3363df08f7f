import Foundation

/// A worker as the registry knows it.
public struct WorkerInfo: Sendable, Hashable, Identifiable {
    /// Whether a worker is alive.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// It heartbeated within the stale interval.
        case active
        /// It went silent without saying it stopped; its leases expire normally.
        case stale
        /// It shut down gracefully.
        case stopped
    }

    /// The worker's id, chosen by the worker.
    public var id: String
    /// The host it runs on; `nil` for a worker that only speaks HTTP.
    public var hostname: String?
    /// Its process id; `nil` for a worker that only speaks HTTP.
    public var pid: Int?
    /// The task types it handles; empty means any.
    public var capabilities: [String]
    /// The scheduling strategy it claims with, if it said.
    public var strategy: String?
    /// When it registered.
    public var startedAt: Date
    /// When it last heartbeated.
    public var lastHeartbeatAt: Date
    /// Whether it is active, stale or stopped.
    public var state: State
    /// How many tasks it holds leases on.
    public var currentTasks: Int

    /// Describes a worker.
    public init(
        id: String, hostname: String?, pid: Int?, capabilities: [String], strategy: String?,
        startedAt: Date, lastHeartbeatAt: Date, state: State, currentTasks: Int
    ) {
        self.id = id
        self.hostname = hostname
        self.pid = pid
        self.capabilities = capabilities
        self.strategy = strategy
        self.startedAt = startedAt
        self.lastHeartbeatAt = lastHeartbeatAt
        self.state = state
        self.currentTasks = currentTasks
    }
}
