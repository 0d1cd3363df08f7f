/// A store that plays every role: what a local backend (SQLite, PostgreSQL) implements.
///
/// A store that offers only some roles (a remote server offers ``TaskStore`` and
/// ``LeaseStore``) is given to ``TaskQueue/init(store:configuration:)`` all the same; the
/// queue finds which roles it has.
public protocol QueueStore: TaskStore, LeaseStore, WorkerRegistryStore, ReadinessStore, MaintenanceStore {}

extension ReadinessStore {
    /// No watch: workers of such a store find other processes' tasks by polling.
    public func watchCommits(_ onCommit: @escaping @Sendable () -> Void) -> CommitWatch? {
        nil
    }
}
