import Foundation
import HTTPTypes
import Hummingbird

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps web pages out of a server they happen to reach (a server on loopback with no token is
/// otherwise open to any page the operator visits, and to DNS rebinding):
///
/// - a `Host` the server does not answer to gets `421` (DNS rebinding sends the attacker's name);
/// - a state-changing request whose `Origin` is another site gets `403`;
/// - a `POST` without `Content-Type: application/json` gets `415`, even with an empty body, so no
///   cross-site "simple request" (a form, a `fetch` without preflight) can change anything.
struct BrowserGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The host names (lowercase, without port; IPv6 in brackets) the server answers to.
    let allowedHosts: Set<String>
    /// The names given with `--allowed-host`: pages served under them (through a proxy) are
    /// the server's own.
    let extraHosts: Set<String>

    init(configuration: ServerConfiguration) {
        allowedHosts = configuration.answeredHosts
        extraHosts = Set(configuration.allowedHosts.map(ServerConfiguration.hostName))
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let host = request.head.authority
        if let host, !answers(ServerConfiguration.hostName(host)) {
            throw APIError(
                .misdirectedRequest, "misdirected_request",
                "This server does not answer to the host '\(ServerConfiguration.hostName(host))'; see --allowed-host."
            )
        }
        if request.method != .get, request.method != .head, let origin = request.headers[.origin],
            !isOwnOrigin(origin, host: host)
        {
            throw APIError(.forbidden, "forbidden", "Cross-origin requests may not change the queue.")
        }
        if request.method == .post, !ContentType.isJSON(request.headers[.contentType]) {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
        }
        return try await next(request, context)
    }

    /// Whether the server answers to a host name (lowercase, no port): one of ``allowedHosts``,
    /// or any IP address. DNS rebinding needs a name of the attacker's, so an address as the
    /// `Host` can only come from a client that really meant this server (remote workers and
    /// health checks of a server bound to `0.0.0.0`, say).
    func answers(_ name: String) -> Bool {
        if allowedHosts.contains(name) { return true }
        if name.hasPrefix("["), name.hasSuffix("]") {
            var address = in6_addr()
            return inet_pton(AF_INET6, String(name.dropFirst().dropLast()), &address) == 1
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Whether `origin` (`scheme://host[:port]`, `http` or `https`) is the server's own: the
    /// request's `Host` itself (port included), or a name given with `--allowed-host` (the
    /// dashboard through a proxy). Another port of a loopback name, or any IP address, is
    /// another site.
    func isOwnOrigin(_ origin: String, host: String?) -> Bool {
        let lowered = origin.lowercased()
        for scheme in ["http://", "https://"] where lowered.hasPrefix(scheme) {
            let authority = String(lowered.dropFirst(scheme.count))
            guard !authority.contains("/") else { return false }
            return authority == host?.lowercased() || extraHosts.contains(ServerConfiguration.hostName(authority))
        }
        return false
    }
}

/// What a request's `Content-Type` says.
enum ContentType {
    /// Whether a `Content-Type` names JSON (`application/json` in any case, parameters and
    /// blanks around it allowed). Byte by byte: it runs on every POST.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        var mediaType = contentType.utf8[...]
        if let semicolon = mediaType.firstIndex(of: UInt8(ascii: ";")) { mediaType = mediaType[..<semicolon] }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while let first = mediaType.first, isBlank(first) { mediaType = mediaType.dropFirst() }
        while let last = mediaType.last, isBlank(last) { mediaType = mediaType.dropLast() }
        let lowercased = { (byte: UInt8) in (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte }
        return mediaType.elementsEqual("application/json".utf8) { lowercased($0) == $1 }
    }
}
