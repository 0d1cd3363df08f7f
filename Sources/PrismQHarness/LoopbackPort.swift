import Foundation

/// Ports on 127.0.0.1 for servers that tests and the chaos run start and restart themselves.
public enum LoopbackPort {
    /// A port no one listens on now, below the kernel's ephemeral range: a port from that range
    /// could be taken, between this pick and the server's bind (or between two of its
    /// restarts), as the local end of one of the many connections a test makes.
    public static func free() -> Int? {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let ephemeralStart = range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
        let candidates = max(1024, ephemeralStart - 12_000)..<max(1025, ephemeralStart)
        for _ in 0..<100 {
            let port = Int.random(in: candidates)
            if !isListening(port), canBind(port) { return port }
        }
        return nil
    }

    /// Whether something listens on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        withSocket(port) { descriptor, address, length in connect(descriptor, address, length) == 0 }
    }

    /// A TCP socket connected to 127.0.0.1:`port` (the caller closes it), or `nil` with
    /// `errno` set.
    public static func connection(to port: Int) -> Int32? {
        var connected: Int32?
        _ = withSocket(port, keep: true) { descriptor, address, length in
            guard connect(descriptor, address, length) == 0 else {
                let error = errno
                close(descriptor)
                errno = error
                return false
            }
            connected = descriptor
            return true
        }
        return connected
    }

    /// Whether a socket could be bound to 127.0.0.1:`port` now.
    static func canBind(_ port: Int) -> Bool {
        withSocket(port) { descriptor, address, length in bind(descriptor, address, length) == 0 }
    }

    /// Runs `body` on a new socket and the address 127.0.0.1:`port`; closes the socket after,
    /// unless `keep` (then `body` owns it).
    private static func withSocket(
        _ port: Int, keep: Bool = false, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool
    ) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { if !keep { close(descriptor) } }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                body(descriptor, address, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
}
