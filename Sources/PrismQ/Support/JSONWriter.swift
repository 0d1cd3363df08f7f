import Foundation

/// Builds JSON text with keys in a fixed order and raw JSON (payloads, results) embedded
/// byte for byte. Used for the contract's task object wherever PrismQ prints one.
package struct JSONWriter {
    private var text = "{"
    private var first = true

    package init() {}

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        text += Self.quoted(name) + ":"
    }

    package mutating func add(_ name: String, _ value: String?) {
        key(name)
        text += value.map(Self.quoted) ?? "null"
    }

    package mutating func add(_ name: String, _ value: Int64?) {
        key(name)
        text += value.map { String($0) } ?? "null"
    }

    package mutating func add(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    package mutating func add(_ name: String, _ value: Double?) {
        key(name)
        text += value.map { String($0) } ?? "null"
    }

    package mutating func add(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    package mutating func add(_ name: String, _ value: Date?) {
        add(name, value.map(RFC3339.string(from:)))
    }

    package mutating func add(_ name: String, raw: String?) {
        key(name)
        text += raw ?? "null"
    }

    /// The finished object.
    package var json: String { text + "}" }

    /// `values` as a JSON array of already-encoded elements.
    package static func array(_ values: [String]) -> String {
        "[" + values.joined(separator: ",") + "]"
    }

    /// `string` as a JSON string literal.
    package static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
