import Foundation
import PrismQ
import PrismQPostgres

/// Where a command's queue lives, as `--db` (or `PRISMQ_QUEUE_DB_PATH`) names it: the one
/// parser of store locations.
///
/// - a plain path, `sqlite:///absolute/path` or `sqlite:relative/path`: a SQLite file;
/// - `http://host:port` or `https://…`: a `prismq serve` elsewhere;
/// - `postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME` (or `postgresql://`): a
///   PostgreSQL database.
enum StoreLocation: Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case remote(url: String)
    /// The URL as given (with its password); ``description`` leaves the password out.
    case postgres(url: String, configuration: PostgresConfiguration)

    /// The schemes a location may carry, as an error lists them.
    static let knownSchemes = "sqlite:, http://, https://, postgres:// (or a plain file path)"

    /// Parses a location.
    ///
    /// - Throws: `invalidArgument` for an empty location, an unknown scheme (the message lists
    ///   the known ones), a `sqlite:` URL with a host, query or empty path, an `http(s)` URL
    ///   without a host, or a PostgreSQL URL that does not parse.
    init(parsing text: String) throws(QueueError) {
        guard !text.isEmpty else { throw QueueError(.invalidArgument, "The database location is empty.") }
        guard let scheme = Self.scheme(of: text) else {
            self = .sqlite(path: text)
            return
        }
        switch scheme {
        case "sqlite":
            self = .sqlite(path: try Self.sqlitePath(text))
        case "http", "https":
            guard let url = URL(string: text), url.host?.isEmpty == false, text.lowercased().hasPrefix(scheme + "://"),
                url.query == nil, url.fragment == nil
            else {
                throw QueueError(.invalidArgument, "'\(text)' is not a server URL: write \(scheme)://host:port.")
            }
            self = .remote(url: text.hasSuffix("/") ? String(text.dropLast()) : text)
        case "postgres", "postgresql":
            self = .postgres(url: text, configuration: try PostgresConfiguration(url: text))
        default:
            throw QueueError(
                .invalidArgument, "Unknown store scheme '\(scheme):' in '\(text)'; known: \(Self.knownSchemes).")
        }
    }

    /// The scheme of `text` when it is a URL: `sqlite:…` (a path may follow at once), or any
    /// `name://…`. A path with a colon elsewhere (`./a:b.db`, `a:b.db`) has none.
    static func == (lhs: StoreLocation, rhs: StoreLocation) -> Bool {
        switch (lhs, rhs) {
        case (.sqlite(let a), .sqlite(let b)): a == b
        case (.remote(let a), .remote(let b)): a == b
        case (.postgres(let a, _), .postgres(let b, _)): a == b
        default: false
        }
    }

    private static func scheme(of text: String) -> String? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = text[..<colon]
        guard let first = name.first, first.isASCII, first.isLetter,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) })
        else { return nil }
        let lowered = name.lowercased()
        if lowered == "sqlite" || text[colon...].hasPrefix("://") { return lowered }
        return nil
    }

    /// The file path of a `sqlite:` URL: `sqlite:///abs/path` (no host), `sqlite:/abs/path`, or
    /// `sqlite:relative/path`; percent escapes are decoded.
    private static func sqlitePath(_ text: String) throws(QueueError) -> String {
        var rest = String(text.dropFirst("sqlite:".count))
        if rest.hasPrefix("//") {
            rest.removeFirst(2)
            guard !rest.isEmpty else { throw QueueError(.invalidArgument, "'\(text)' names no file.") }
            guard rest.hasPrefix("/") else {
                throw QueueError(
                    .invalidArgument,
                    "'\(text)' names a host; a SQLite URL is sqlite:///absolute/path or sqlite:relative/path.")
            }
        }
        guard !rest.contains("?"), !rest.contains("#") else {
            throw QueueError(.invalidArgument, "'\(text)': a SQLite URL takes no query or fragment.")
        }
        guard let path = rest.removingPercentEncoding else {
            throw QueueError(.invalidArgument, "'\(text)' has a broken percent escape (write %25 for '%').")
        }
        guard !path.isEmpty, path != "/" else {
            throw QueueError(.invalidArgument, "'\(text)' names no file.")
        }
        return path
    }

    /// The canonical URL: `sqlite:///absolute/path` (relative paths resolved against the
    /// working directory), the server's URL, or the PostgreSQL URL without its password.
    var description: String {
        switch self {
        case .sqlite(let path):
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            let escaped =
                absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["?", "#", "%"]))
                ?? absolute
            return "sqlite://" + escaped
        case .remote(let url):
            return url
        case .postgres(_, let configuration):
            return configuration.description
        }
    }
}
