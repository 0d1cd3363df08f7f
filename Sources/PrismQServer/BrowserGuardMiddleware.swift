import Foundation
import HTTPTypes
import Hummingbird

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

    init(configuration: ServerConfiguration) {
        allowedHosts = configuration.answeredHosts
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let host = request.head.authority
        if let host, !allowedHosts.contains(ServerConfiguration.hostName(host)) {
            throw APIError(
                .misdirectedRequest, "misdirected_request",
                "This server does not answer to the host '\(ServerConfiguration.hostName(host))'; see --allowed-host."
            )
        }
        if request.method != .get, request.method != .head, let origin = request.headers[.origin],
            !Self.isSameOrigin(origin, host: host)
        {
            throw APIError(.forbidden, "forbidden", "Cross-origin requests may not change the queue.")
        }
        if request.method == .post, !Self.isJSON(request.headers[.contentType]) {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
        }
        return try await next(request, context)
    }

    /// Whether `origin` (`scheme://host[:port]`) is the site the request was sent to.
    static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host else { return false }
        let origin = origin.lowercased()
        let authority = host.lowercased()
        return origin == "http://" + authority || origin == "https://" + authority
    }

    /// Whether a `Content-Type` names JSON (`application/json`, parameters allowed).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }
}
