import Foundation

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// One HTTP/1.1 connection on a plain socket, for what a client library hides: any `Host`
/// header, and closing the connection while a request is in flight.
public final class RawHTTPConnection: @unchecked Sendable {  // One test task uses it at a time.
    private let descriptor: Int32

    /// How long a read waits for data before ``response()`` gives up (status -1), so that a
    /// test whose server never answers fails instead of hanging past its time limit.
    public static let readTimeout = 90

    /// Connects to 127.0.0.1 at `port`.
    public init(port: Int) throws {
        guard let descriptor = LoopbackPort.connection(to: port) else { throw POSIXError(.ECONNREFUSED) }
        self.descriptor = descriptor
        var timeout = timeval(tv_sec: Self.readTimeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends a request: `POST`s carry `body` as JSON unless `headers` say otherwise.
    public func send(
        _ method: String, _ path: String, host: String = "127.0.0.1", headers: [String] = [], body: String = ""
    ) {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: \(host)", "Content-Length: \(body.utf8.count)"]
        lines += headers
        let text = lines.joined(separator: "\r\n") + "\r\n\r\n" + body
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// Reads one whole response (the server closes or the body's length arrives): its status
    /// code (0 when the server closed without one, -1 when nothing came for ``readTimeout``
    /// seconds), and its body. The blocking reads run on a thread of their own, never on the
    /// cooperative pool the server in this process needs.
    public func response() async -> (status: Int, body: String) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.readResponse()) }
        }
    }

    private func readResponse() -> (status: Int, body: String) {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return (-1, "") }
            if count <= 0 { break }
            data += buffer[0..<count]
            let text = String(decoding: data, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n"),
                let lengthLine = text[..<end.lowerBound].split(separator: "\r\n").first(where: {
                    $0.lowercased().hasPrefix("content-length:")
                }),
                let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                text.utf8.count - text[..<end.upperBound].utf8.count >= length
            {
                break
            }
        }
        let text = String(decoding: data, as: UTF8.self)
        let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// Closes the connection.
    public func disconnect() {
        _ = close(descriptor)
    }
}
