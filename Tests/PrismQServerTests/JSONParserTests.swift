import Foundation
import HTTPTypes
import PrismQ
import PrismQHarness
import PrismQWire
import Testing

@testable import PrismQServer

@Suite("Request bodies: one strict pass, payloads byte for byte", .timeLimit(.minutes(5)))
struct JSONParserTests {
    func parse(_ text: String) throws(QueueError) -> JSONBody {
        JSONBody(try JSONParser.object(JSONSource(Array(text.utf8))))
    }

    func parse(bytes: [UInt8]) throws(QueueError) -> JSONBody {
        JSONBody(try JSONParser.object(JSONSource(bytes)))
    }

    @Test func fieldsDecodeAndPayloadsKeepTheirExactText() throws {
        let payload = #"{ "b" : [1.50, -0, 1E+2, "\u00e9\ud83d\ude00\n"], "a":{} }"#
        let body = try parse(
            " \r\n{\"type\":\"t\\u0041\\\"\", \"n\": -12, \"x\": 2.5e-1, \"big\": 18446744073709551616,\n"
                + "\"ok\": true, \"no\": null, \"tags\": [\"a\", \"\\/b\"], \"payload\": \(payload)}\t")
        #expect(try body.string("type") == "tA\"")
        #expect(try body.integer("n") == -12 && body.number("x") == 0.25 && body.number("big") == 1.8446744073709552e19)
        #expect(try body.bool("ok") == true && body.has("no") == false && body.strings("tags") == ["a", "/b"])
        #expect(body.raw("payload")?.text == payload, "byte for byte, blanks inside kept")
        #expect(try parse(#"{"s":"\ud83d\ude00 é \u00e9 \t\\"}"#).string("s") == "😀 é é \t\\")
        #expect(try parse(#"{"payload":null}"#).raw("payload")?.text == "null")
        // Seconds as the Swift client writes them from milliseconds read back as those (the
        // reviewer found 1.1400000000000001 read as 1,141 ms); a sliver still rounds up to 1 ms.
        #expect(try parse(#"{"t":1.1400000000000001}"#).seconds("t", in: 0...10) == .milliseconds(1140))
        #expect(try parse(#"{"t":0.0001}"#).seconds("t", in: 0...10) == .milliseconds(1))
        // A result of null is no result, as the client writes a completion without one (the
        // fuzzer found the two apart).
        #expect(
            try parse(#"{"result":null}"#).result() == nil && parse(#"{"result":[1, 2]}"#).result()?.text == "[1, 2]")
        #expect(try parse("{}").has("payload") == false)
    }

    @Test func anythingButOneValidObjectIsRefused() throws {
        let refused = [
            "", " ", "[]", "\"s\"", "1", "null", "{", "}", "{}{}", "{} x", "{,}", #"{"a":1,}"#, #"{"a" 1}"#,
            #"{"a":}"#, #"{a:1}"#, #"{'a':1}"#, #"{"a":[1,]}"#, #"{"a":[,1]}"#, #"{"a":01}"#, #"{"a":1.}"#,
            #"{"a":.5}"#, #"{"a":1e}"#, #"{"a":+1}"#, #"{"a":-}"#, #"{"a":1e400}"#, #"{"a":NaN}"#, #"{"a":tru}"#,
            #"{"a":nul}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#,
            #"{"a":"\ud800\u0041"}"#, "{\"a\":\"tab\there\"}", "{\"a\":\"line\nbreak\"}", #"{"a":"open}"#,
            #"{"payload":[1,,2]}"#, #"{"payload":{"k"}}"#, #"{"result":01}"#, #"{"payload":"\q"}"#,
            #"{"payload":{"x":1e400}}"#, #"{"result":-1e400}"#,
            "{\"payload\":1" + String(repeating: "0", count: 400) + "}",
        ]
        for text in refused {
            #expect(throws: QueueError(.invalidArgument, "The body must be a JSON object.")) { try parse(text) }
        }
        let badUTF8: [[UInt8]] = [
            [0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3],
            [0xE2, 0x82],
        ]
        for bytes in badUTF8 {
            let body = Array(#"{"payload":""#.utf8) + bytes + Array(#""}"#.utf8)
            #expect(throws: QueueError.self, "\(bytes)") { try parse(bytes: body) }
        }
        #expect(
            try parse(bytes: Array(#"{"s":""#.utf8) + [0xF0, 0x9F, 0x98, 0x80] + Array(#""}"#.utf8)).string("s") == "😀")
    }

    /// Random documents written with random blanks and escapes read back as the values they
    /// were written from.
    @Test func randomDocumentsReadBackAsWritten() throws {
        var generator = SeededGenerator(seed: 20_261_203)
        for _ in 0..<300 {
            let value = Self.randomValue(depth: 0, &generator)
            let written = Self.write(value, &generator)
            let text = "{\"v\":" + Self.write(value, &generator) + ",\"payload\":" + written + "}"
            let parsed = try #require(try Self.members(text: text)["v"])
            #expect(Self.same(parsed, value), "\(text)")
            #expect(try parse(text).raw("payload")?.text == written.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func aPayloadIsStoredAndAnsweredByteForByte() async throws {
        try await APITester().run { client in
            let payload = #"{"z": 1, "a": [1.50, 1e2, 12345678901234567890123], "s": "\u00e9"}"#
            let created = try await client.post("/queue/tasks", #"{"type":"t","payload":\#(payload)}"#)
            #expect(created.status == .created && created.text.contains(#""payload":\#(payload),"#))
            let read = try await client.get("/queue/tasks/1")
            #expect(read.text.contains(#""payload":\#(payload),"#), "\(read.text)")
        }
    }

    // MARK: Random documents

    enum Value {
        case null, bool(Bool), integer(Int64), number(Double), string(String)
        indirect case array([Value])
        indirect case object([(String, Value)])
    }

    static func members(text: String) throws -> [String: JSONValue] {
        try JSONParser.object(JSONSource(Array(text.utf8))).members.mapValues(\.value)
    }

    static func randomValue(depth: Int, _ generator: inout SeededGenerator) -> Value {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            return .integer(
                Int64.random(in: .min ... .max, using: &generator) >> Int64.random(in: 0...63, using: &generator))
        case 3: return .number(Double.random(in: -1e6...1e6, using: &generator).rounded() + 0.5)
        case 4:
            let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "é", "€", "😀", "𝄞"]
            return .string(
                String(
                    (0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)!
                    }))
        case 5:
            return .array(
                (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, &generator) })
        default:
            return .object(
                (0..<Int.random(in: 0...4, using: &generator)).map { index in
                    ("k\(index)", randomValue(depth: depth + 1, &generator))
                })
        }
    }

    static func blank(_ generator: inout SeededGenerator) -> String {
        ["", "", " ", "\n", "\t ", "\r\n"].randomElement(using: &generator)!
    }

    static func write(_ value: Value, _ generator: inout SeededGenerator) -> String {
        let inner: String
        switch value {
        case .null: inner = "null"
        case .bool(let value): inner = value ? "true" : "false"
        case .integer(let value): inner = String(value)
        case .number(let value): inner = Bool.random(using: &generator) ? "\(value)" : String(format: "%.3E", value)
        case .string(let value): inner = quote(value, &generator)
        case .array(let values): inner = "[" + values.map { write($0, &generator) }.joined(separator: ",") + "]"
        case .object(let members):
            inner =
                "{"
                + members.map { quote($0.0, &generator) + blank(&generator) + ":" + write($0.1, &generator) }.joined(
                    separator: ",") + "}"
        }
        return blank(&generator) + inner + blank(&generator)
    }

    /// A JSON string, each character written plainly or as `\u` escapes at random (control
    /// characters, quotes and backslashes always escaped).
    static func quote(_ text: String, _ generator: inout SeededGenerator) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            let plain = scalar.value >= 0x20 && scalar != "\"" && scalar != "\\"
            if plain && Bool.random(using: &generator) {
                out.unicodeScalars.append(scalar)
            } else if scalar == "\"" || scalar == "\\" || scalar == "/", Bool.random(using: &generator) {
                out += "\\" + String(scalar)
            } else {
                for unit in String(scalar).utf16 { out += String(format: "\\u%04x", unit) }
            }
        }
        return out + "\""
    }

    static func same(_ parsed: JSONValue, _ value: Value) -> Bool {
        switch (parsed, value) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.number(let a), .number(let b)): return abs(a - b) <= abs(b) * 1e-3
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case (.object(let a), .object(let b)):
            return a.members.count == b.count
                && b.allSatisfy { key, value in a.members[key].map { same($0.value, value) } ?? false }
        default: return false
        }
    }
}
