import Foundation

/// A JSON value kept as its UTF-8 text: task payloads and results.
///
/// The text is checked once, when the value is made, and then stored and returned byte for
/// byte, so a payload round-trips exactly. Any JSON value is allowed, not only objects.
public struct RawJSON: Sendable, Hashable, CustomStringConvertible {
    /// The JSON text.
    public let text: String

    /// The JSON `null`.
    public static let null = RawJSON(unchecked: "null")

    /// Checks `text` and keeps it.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` when `text` is not one valid JSON value, or
    ///   nests deeper than ``TaskValidation/maxNestingDepth``.
    public init(validating text: String) throws(QueueError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        try TaskValidation.validateNesting(trimmed)
        guard !trimmed.isEmpty,
            (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])) != nil
        else {
            throw QueueError(.invalidArgument, "The payload is not valid JSON.")
        }
        self.text = trimmed
    }

    /// Encodes `value` with a `JSONEncoder`.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` when the value cannot be encoded.
    public init(encoding value: some Encodable & Sendable) throws(QueueError) {
        do {
            let data = try JSONEncoder.prismq.encode(value)
            self.text = String(decoding: data, as: UTF8.self)
        } catch {
            throw QueueError(.invalidArgument, "The payload could not be encoded as JSON: \(error).")
        }
    }

    /// Keeps text that is already known to be valid JSON (read back from a store).
    package init(unchecked text: String) {
        self.text = text
    }

    /// Decodes the JSON as `T`.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` when the JSON does not match `T`.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws(QueueError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw QueueError(.invalidArgument, "The JSON does not decode as \(T.self): \(error).")
        }
    }

    /// The size of the encoded text in bytes.
    public var byteCount: Int { text.utf8.count }

    /// The value as a Foundation object (`NSNull`, numbers, strings, arrays, dictionaries).
    package var foundationObject: Any {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? NSNull()
    }

    public var description: String { text }

    /// The deepest nesting of arrays and objects in JSON text, in one pass (brackets inside
    /// strings do not count).
    package static func nestingDepth(of json: UnsafeRawBufferPointer) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in json {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}

extension JSONEncoder {
    /// The encoder PrismQ uses for typed payloads: sorted keys, so equal values encode equally.
    package static var prismq: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
