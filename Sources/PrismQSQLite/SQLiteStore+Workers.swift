import GRDB
import PrismQ

extension SQLiteStore {
    public func register(_ worker: WorkerRegistration) async throws(QueueError) {
        let capabilities = JSONText.array(worker.capabilities.map(JSONText.quoted))
        try await write { [self] db in
            let now = nowMillis
            try db.cachedStatement(sql: WorkerSQL.register).execute(arguments: [
                worker.id, worker.hostname, worker.pid, capabilities, worker.strategy?.rawValue, now,
            ])
        }
    }

    public func workerHeartbeat(id: String) async throws(QueueError) {
        try await write { [self] db in
            let now = nowMillis
            try db.cachedStatement(sql: LeaseSQL.touchWorker).execute(arguments: [now, id])
        }
    }

    public func workerStopped(id: String) async throws(QueueError) {
        try await write { [self] db in
            let now = nowMillis
            try db.cachedStatement(sql: WorkerSQL.stopped).execute(arguments: [now, now, id])
        }
    }
}

/// The statements of the worker registry.
enum WorkerSQL {
    static let register = """
        INSERT INTO workers (id, hostname, pid, capabilities, strategy, started_at, last_heartbeat_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
        ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
            capabilities = excluded.capabilities, strategy = excluded.strategy, started_at = excluded.started_at,
            last_heartbeat_at = excluded.last_heartbeat_at, stopped_at = NULL
        """
    static let stopped = "UPDATE workers SET stopped_at = ?, last_heartbeat_at = ? WHERE id = ?"
}
