/// The registry's role of a store: which workers exist and when each was last seen.
///
/// A store without it (a remote server, whose claims register their worker) leaves
/// ``TaskQueue``'s registry calls doing nothing.
public protocol WorkerRegistryStore: Sendable {
    /// Adds the worker to the registry, or marks it started again.
    func register(_ worker: WorkerRegistration) async throws(QueueError)

    /// Records that the worker is alive.
    func workerHeartbeat(id: String) async throws(QueueError)

    /// Marks the worker `stopped` (graceful shutdown).
    func workerStopped(id: String) async throws(QueueError)
}
