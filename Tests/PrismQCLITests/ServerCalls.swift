import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension CLIRunner {
    /// Starts `prismq serve` on `database` at a free port; returns it with its base URL.
    func serve(database: String, _ extra: [String] = []) async throws -> (Running, String) {
        let server = try start(["serve", "--db", database, "--port", "0"] + extra)
        var line = ""
        for _ in 0..<500 where !line.contains("\n") {
            line = String(decoding: FileManager.default.contents(atPath: server.out) ?? Data(), as: UTF8.self)
            try await Task.sleep(for: .milliseconds(20))
        }
        let url = try #require(
            line.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init), "no banner: \(line)")
        return (server, url)
    }

    /// Calls a server: the status, and the JSON object answered (empty when none).
    static func call(_ method: String, _ url: String, _ body: String? = nil) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as! HTTPURLResponse).statusCode, json)
    }
}
