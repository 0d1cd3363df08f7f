import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PrismQ
import PrismQWire

/// An error as the contract writes it: a status and `{"error": {"code", "message"}}`.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The contract's answer to a store error.
    init(_ error: QueueError) {
        switch error.code {
        case .invalidArgument: self.init(.badRequest, "invalid_request", error.message)
        case .notFound: self.init(.notFound, "not_found", error.message)
        case .conflict: self.init(.conflict, "conflict", error.message)
        case .leaseLost: self.init(.conflict, "lease_lost", error.message)
        case .payloadTooLarge: self.init(.contentTooLarge, "payload_too_large", error.message)
        case .busy: self.init(.serviceUnavailable, "busy", error.message)
        default: self.init(.internalServerError, "internal", "The server could not complete the request.")
        }
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }

    var body: String {
        var error = JSONWriter()
        error.add("code", code)
        error.add("message", message)
        var writer = JSONWriter()
        writer.add("error", raw: error.json)
        return writer.json
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .serviceUnavailable { headers[.retryAfter] = "1" }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Turns every error into the contract's error body: store errors by code, Hummingbird's own
/// (no route, body too large) by status, anything else into a bare `internal` 500 whose
/// details go only to the log.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as QueueError {
            if error.code == .storage {
                context.logger.error("Storage error", metadata: ["prismq.error": "\(error)"])
            }
            throw APIError(error)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "payload_too_large", "The request body is too large.")
        } catch let error as HTTPError {
            throw Self.translate(error)
        } catch {
            context.logger.error("Unexpected error", metadata: ["prismq.error": "\(error)"])
            throw APIError(.internalServerError, "internal", "The server could not complete the request.")
        }
    }

    private static func translate(_ error: HTTPError) -> APIError {
        switch error.status {
        case .notFound: APIError(.notFound, "not_found", "No such endpoint.")
        case .methodNotAllowed: APIError(.methodNotAllowed, "invalid_request", "Method not allowed here.")
        case .contentTooLarge: APIError(.contentTooLarge, "payload_too_large", "The request body is too large.")
        case .unsupportedMediaType:
            APIError(.unsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
        case let status where status.code < 500: APIError(status, "invalid_request", error.body ?? "Invalid request.")
        default: APIError(.internalServerError, "internal", "The server could not complete the request.")
        }
    }
}

/// Requires `Authorization: Bearer <token>` on every path but the open ones.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    static var openPaths: Set<String> { ["/health", "/"] }

    init(token: String) {
        self.token = Array(token.utf8)
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        guard !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.constantTimeEqual(Array(header.dropFirst(prefix.count).utf8), token) else {
            throw APIError(.unauthorized, "unauthorized", "A valid bearer token is required.")
        }
        return try await next(request, context)
    }

    /// Compares in time that depends only on the lengths, never on where the bytes differ.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
