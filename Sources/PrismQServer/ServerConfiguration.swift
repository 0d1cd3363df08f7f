import PrismQ

/// How `prismq serve` listens and guards the queue.
public struct ServerConfiguration: Sendable {
    /// The address to bind. Default: `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// The port. Default: 8080.
    public var port: Int = 8080
    /// The bearer token every endpoint but `/health` and `/` (the dashboard) requires; `nil`
    /// for none. Default: none.
    public var token: String?
    /// Allows binding a non-loopback address without a token. Default: `false`.
    public var insecure = false
    /// The largest task payload accepted, in bytes (a task's body may be 64 KiB more; a batch
    /// body 32 MiB). Default: 1 MiB.
    public var maxPayloadBytes: Int = 1 << 20
    /// When a failed attempt (`POST …/fail`) runs again. Default: ``RetryPolicy/standard``.
    public var retryPolicy: RetryPolicy = .standard
    /// The longest a claim's `wait_seconds` actually waits (a proxy with a shorter timeout, or a
    /// fuzzing run, wants less); longer waits are accepted and cut to this. Default: 30 s.
    public var claimWaitLimit: Duration = .seconds(30)
    /// What `/health` says the database is (`sqlite:///path/queue.db`).
    public var databaseURL: String = ""

    /// Every default.
    public init() {}

    /// The largest body of a single-task request.
    var maxBodyBytes: Int { maxPayloadBytes + 64 << 10 }
    /// The largest body of a batch.
    var maxBatchBodyBytes: Int { max(32 << 20, maxBodyBytes) }

    /// Checks the settings: a port in range, and no open address without a token unless
    /// `insecure`.
    public func validate() throws(QueueError) {
        guard (0...65535).contains(port) else {
            throw QueueError(.invalidArgument, "The port must be between 0 and 65535.")
        }
        if let token, token.isEmpty {
            throw QueueError(.invalidArgument, "The token must not be empty.")
        }
        guard token != nil || insecure || Self.isLoopback(host) else {
            throw QueueError(
                .invalidArgument,
                "Refusing to serve \(host) without a token: set --token (or PRISMQ_API_TOKEN), or pass --insecure."
            )
        }
    }

    /// Whether `host` names only this machine.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
