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
    /// The longest a claim's `wait_seconds` actually waits (a proxy with a shorter timeout, or a
    /// fuzzing run, wants less); longer waits are accepted and cut to this. Default: 30 s.
    public var claimWaitLimit: Duration = .seconds(30)
    /// The most long-poll claims (`wait_seconds` > 0) that may wait at once; one more gets
    /// `503 busy` with `Retry-After`. Default: 1024.
    public var maxClaimWaiters: Int = 1024
    /// How often waiting long-poll claims look for work when nothing woke them: the backstop
    /// for a lost wake-up. Tests set it to hours, so that only wake-ups can end a wait.
    /// Default: 250 ms.
    package var claimRecheck: Duration = .milliseconds(250)
    /// The most writes (enqueue, claim, heartbeat, complete, fail, release, settle, cancel,
    /// retry) that may wait for the store at once; one more gets `503 busy` with `Retry-After`
    /// at once (see `docs/server.md`, *Back-pressure*). Default: 1024.
    public var maxPendingWrites: Int = 1024
    /// How long a connection may sit idle (no request, or a request's head or body stalled)
    /// before the server closes it; `nil` for never. A request being answered, a long-poll claim
    /// among them, is not idle. Default: 75 s (longer than common clients' own pool timeouts,
    /// so that they close first).
    public var idleTimeout: Duration? = .seconds(75)
    /// More host names (or addresses) the server answers to, besides `localhost`, `127.0.0.1`,
    /// `[::1]` and ``host``: a request whose `Host` is none of them gets `421`. Default: none.
    public var allowedHosts: [String] = []
    /// What `/health` says the database is (`sqlite:///path/queue.db`).
    public var databaseURL: String = ""

    /// Every default.
    public init() {}

    /// The host names a request's `Host` may carry, lowercase, IPv6 addresses in brackets.
    var answeredHosts: Set<String> {
        let names = ["localhost", "127.0.0.1", "[::1]", host] + allowedHosts
        return Set(
            names.map { name in
                let isIPv6 = name.filter { $0 == ":" }.count > 1 && !name.hasPrefix("[")
                return isIPv6 ? "[\(name.lowercased())]" : Self.hostName(name)
            }
        )
    }

    /// The host of a `Host` header (or an authority), lowercase and without its port.
    static func hostName(_ authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("["), let close = lowered.firstIndex(of: "]") {
            return String(lowered[...close])
        }
        return String(lowered.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// Checks the settings: a port in range, and no open address without a token unless
    /// `insecure`.
    public func validate() throws(QueueError) {
        guard (0...65535).contains(port) else {
            throw QueueError(.invalidArgument, "The port must be between 0 and 65535.")
        }
        guard maxClaimWaiters >= 0 else {
            throw QueueError(.invalidArgument, "The most waiting claims must be 0 or more.")
        }
        if let idleTimeout, idleTimeout <= .zero {
            throw QueueError(.invalidArgument, "The idle timeout must be more than 0 s.")
        }
        guard maxPendingWrites >= 1 else {
            throw QueueError(.invalidArgument, "The most pending writes must be 1 or more.")
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
