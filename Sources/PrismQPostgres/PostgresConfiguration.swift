import Foundation
import PrismQ

/// Where a ``PostgresStore`` connects and how it behaves.
///
/// Read from a URL, `postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&sslmode=MODE`
/// (also `max_connections=N` and `connect_timeout=SECONDS`), or set field by field. The password is never shown: ``description`` and every error name
/// the server without it.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// How the connection uses TLS.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, its certificate unchecked (the default, as libpq's
        /// `prefer`).
        case prefer
        /// TLS or no connection, the certificate unchecked (as libpq's `require`).
        case require
        /// TLS with the certificate and host name checked against the system's trusted roots.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address. Default: `127.0.0.1`.
    public var host = "127.0.0.1"
    /// The server's port. Default: 5432.
    public var port = 5432
    /// The role to connect as. Default: `postgres`.
    public var username = "postgres"
    /// The role's password, if it has one.
    public var password: String?
    /// The database; `nil` is the role's own.
    public var database: String?
    /// The schema that holds the queue's tables, made on first use. Default: `prismq`.
    public var schema = "prismq"
    /// TLS. Default: ``TLSMode/prefer``.
    public var tls = TLSMode.prefer
    /// The most connections the store opens. Default: 10.
    public var maxConnections = 10
    /// How long opening a connection may take before the call fails. Default: 5 s.
    public var connectTimeout: Duration = .seconds(5)
    /// Where "now" comes from for leases, delays and history. `nil` (the default) reads the
    /// database server's clock, so that hosts with skewed clocks agree; tests pass a
    /// ``PrismQ/ManualClock``.
    public var clock: (any StoreClock)?
    /// A worker silent for this long counts as stale. Default: 30 s.
    public var workerStaleAfter: Duration = .seconds(30)
    /// The name the store's connections give the server (`application_name`, shown in
    /// `pg_stat_activity`). Default: `prismq`.
    public var applicationName = "prismq"

    /// Every default: `postgres` on 127.0.0.1:5432, schema `prismq`.
    public init() {}

    /// Reads `postgres://` or `postgresql://` URLs: user, password, host, port and database,
    /// and the query items `schema`, `sslmode` (`disable`, `prefer`, `require`, `verify-full`),
    /// `max_connections` (1–1000) and `connect_timeout` (whole seconds, 1–3600, as libpq's).
    ///
    /// - Throws: `invalidArgument` naming what is wrong (never the password).
    public init(url: String) throws(QueueError) {
        guard let components = URLComponents(string: url),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw QueueError(
                .invalidArgument,
                "A PostgreSQL URL reads postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME.")
        }
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port {
            guard (1...65535).contains(port) else {
                throw QueueError(.invalidArgument, "The port \(port) is outside 1–65535.")
            }
            self.port = port
        }
        if let user = components.user, !user.isEmpty { username = user }
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        for item in components.queryItems ?? [] {
            switch item.name {
            case "schema":
                schema = item.value ?? ""
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw QueueError(
                        .invalidArgument,
                        "sslmode is one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                tls = mode
            case "max_connections":
                guard let count = item.value.flatMap({ Int($0) }), (1...1000).contains(count) else {
                    throw QueueError(.invalidArgument, "max_connections is a whole number from 1 to 1000.")
                }
                maxConnections = count
            case "connect_timeout":
                guard let seconds = item.value.flatMap({ Int($0) }), (1...3600).contains(seconds) else {
                    throw QueueError(.invalidArgument, "connect_timeout is whole seconds from 1 to 3600.")
                }
                connectTimeout = .seconds(seconds)
            default:
                throw QueueError(
                    .invalidArgument,
                    "Unknown URL option \(item.name); known: schema, sslmode, max_connections, connect_timeout.")
            }
        }
        try Self.validate(schema: schema)
    }

    /// Checks a schema name: a lower-case letter or `_`, then up to 62 lower-case letters,
    /// digits or `_` (it is written into SQL as an identifier).
    public static func validate(schema: String) throws(QueueError) {
        let bytes = Array(schema.utf8)
        let valid =
            (1...63).contains(bytes.count)
            && bytes.enumerated().allSatisfy { index, byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_")
                    || (index > 0 && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte))
            }
        guard valid else {
            throw QueueError(
                .invalidArgument,
                "The schema name must be a lower-case letter or _, then up to 62 lower-case letters, digits or _.")
        }
    }

    /// The server, database and schema, without the password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database ?? username)?schema=\(schema)"
    }
}
