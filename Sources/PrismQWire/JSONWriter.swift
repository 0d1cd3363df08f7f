import Foundation
import PrismQ

/// Builds the REST contract's JSON objects as text, keys in a fixed order and raw JSON
/// (payloads, results) embedded byte for byte: the one writer of the wire format.
package struct JSONWriter {
    private var text = "{"
    private var first = true

    package init() {}

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        text += JSONText.quoted(name) + ":"
    }

    package mutating func add(_ name: String, _ value: String?) {
        key(name)
        text += value.map(JSONText.quoted) ?? "null"
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
}
