import PrismQ

/// The bytes a request body was parsed from, shared by every object parsed from them, so that
/// a member's value can be taken as its exact text.
package final class JSONSource: Sendable {
    package let bytes: [UInt8]

    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The text of `span`, byte for byte.
    package func text(_ span: Range<Int>) -> String {
        String(decoding: bytes[span], as: UTF8.self)
    }
}

/// A strict JSON (RFC 8259) reader for request bodies: one pass over the bytes, no trial
/// decoding. Members named in ``textOnly`` (payloads and results) are checked but not decoded:
/// only their text is used, byte for byte.
package enum JSONParser {
    /// The members whose values are kept as text only.
    package static let textOnly: Set<String> = ["payload", "result"]

    /// The body as a JSON object.
    ///
    /// - Throws: `invalidArgument` unless the bytes are exactly one JSON object (blanks
    ///   around it allowed) in valid UTF-8.
    package static func object(_ source: JSONSource) throws(QueueError) -> JSONObject {
        let parsed = source.bytes.withUnsafeBufferPointer { bytes -> JSONObject? in
            var reader = Reader(bytes: bytes, source: source)
            reader.skipBlanks()
            guard reader.peek() == UInt8(ascii: "{"), case .object(let object)? = reader.value(decoding: true) else {
                return nil
            }
            reader.skipBlanks()
            return reader.index == bytes.count ? object : nil
        }
        guard let parsed else { throw QueueError(.invalidArgument, "The body must be a JSON object.") }
        return parsed
    }

    /// The reading position; each method returns `nil` at the first byte that breaks the grammar.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let source: JSONSource
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>, source: JSONSource) {
            self.bytes = bytes
            self.source = source
        }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipBlanks() {
            while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        /// A value; composite values, strings and numbers come back ``JSONValue/unparsed``
        /// unless `decoding`.
        mutating func value(decoding: Bool) -> JSONValue? {
            switch peek() {
            case UInt8(ascii: "{")?: return object(decoding: decoding)
            case UInt8(ascii: "[")?: return array(decoding: decoding)
            case UInt8(ascii: "\"")?: return string(decoding: decoding).map { decoding ? .string($0) : .unparsed }
            case UInt8(ascii: "t")?: return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f")?: return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n")?: return literal("null") ? .null : nil
            default: return number(decoding: decoding)
            }
        }

        private mutating func object(decoding: Bool) -> JSONValue? {
            var members: [String: JSONObject.Member] = [:]
            let read = elements(closing: UInt8(ascii: "}")) { reader in
                guard reader.peek() == UInt8(ascii: "\""), let key = reader.string(decoding: decoding) else {
                    return false
                }
                reader.skipBlanks()
                guard reader.peek() == UInt8(ascii: ":") else { return false }
                reader.index += 1
                reader.skipBlanks()
                let start = reader.index
                guard let value = reader.value(decoding: decoding && !JSONParser.textOnly.contains(key)) else {
                    return false
                }
                if decoding { members[key] = JSONObject.Member(value: value, span: start..<reader.index) }
                return true
            }
            guard read else { return nil }
            return decoding ? .object(JSONObject(source: source, members: members)) : .unparsed
        }

        private mutating func array(decoding: Bool) -> JSONValue? {
            var values: [JSONValue] = []
            let read = elements(closing: UInt8(ascii: "]")) { reader in
                guard let value = reader.value(decoding: decoding) else { return false }
                if decoding { values.append(value) }
                return true
            }
            guard read else { return nil }
            return decoding ? .array(values) : .unparsed
        }

        /// From an opening bracket to its `closing` one: reads each comma-separated element
        /// with `element`; whether all of it follows the grammar.
        private mutating func elements(closing: UInt8, _ element: (inout Reader) -> Bool) -> Bool {
            index += 1
            skipBlanks()
            if peek() == closing {
                index += 1
                return true
            }
            while true {
                skipBlanks()
                guard element(&self) else { return false }
                skipBlanks()
                guard let byte = peek(), byte == closing || byte == UInt8(ascii: ",") else { return false }
                index += 1
                if byte == closing { return true }
            }
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count,
                UnsafeBufferPointer(rebasing: bytes[index..<index + count]).elementsEqual(
                    UnsafeBufferPointer(start: word.utf8Start, count: count))
            else { return false }
            index += count
            return true
        }

        /// A string, from its opening quote: its value (empty unless `decoding`).
        private mutating func string(decoding: Bool) -> String? {
            index += 1
            let start = index
            var escaped = false
            while true {
                guard let byte = peek(), byte >= 0x20 else { return nil }
                switch byte {
                case UInt8(ascii: "\""):
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    guard decoding else { return "" }
                    return escaped ? Self.unescaped(raw) : String(decoding: raw, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    escaped = true
                    guard escape() else { return nil }
                case 0x80...:
                    guard multibyte() else { return nil }
                default:
                    index += 1
                }
            }
        }

        /// An escape, from its backslash; a `\u` escape of a surrogate must be a whole pair.
        private mutating func escape() -> Bool {
            index += 1
            switch peek() {
            case UInt8(ascii: "\"")?, UInt8(ascii: "\\")?, UInt8(ascii: "/")?, UInt8(ascii: "b")?, UInt8(ascii: "f")?,
                UInt8(ascii: "n")?, UInt8(ascii: "r")?, UInt8(ascii: "t")?:
                index += 1
                return true
            case UInt8(ascii: "u")?:
                guard let unit = hexUnit(at: index + 1) else { return false }
                index += 5
                switch unit {
                case 0xD800..<0xDC00:
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u"),
                        let low = hexUnit(at: index + 2), (0xDC00..<0xE000).contains(low)
                    else { return false }
                    index += 6
                    return true
                case 0xDC00..<0xE000: return false
                default: return true
                }
            default:
                return false
            }
        }

        /// The four hex digits at `position`, as a UTF-16 code unit.
        private func hexUnit(at position: Int) -> UInt16? {
            guard position + 4 <= bytes.count else { return nil }
            var unit: UInt16 = 0
            for byte in bytes[position..<position + 4] {
                guard let digit = Self.hexDigit(byte) else { return nil }
                unit = unit << 4 | UInt16(digit)
            }
            return unit
        }

        private static func hexDigit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        /// A UTF-8 sequence of two to four bytes, from its lead byte: no overlong form, no
        /// surrogate, nothing past U+10FFFF.
        private mutating func multibyte() -> Bool {
            let lead = bytes[index]
            let (count, lowest, highest): (Int, UInt32, UInt32) =
                switch lead {
                case 0xC2...0xDF: (2, 0x80, 0x7FF)
                case 0xE0...0xEF: (3, 0x800, 0xFFFF)
                case 0xF0...0xF4: (4, 0x10000, 0x10FFFF)
                default: (0, 0, 0)
                }
            guard count > 0, index + count <= bytes.count else { return false }
            var scalar = UInt32(lead) & (0xFF >> (count + 1))
            for byte in bytes[index + 1..<index + count] {
                guard byte & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(byte & 0x3F)
            }
            guard (lowest...highest).contains(scalar), !(0xD800...0xDFFF).contains(scalar) else { return false }
            index += count
            return true
        }

        /// A string's value from its checked text with escapes.
        private static func unescaped(_ raw: UnsafeBufferPointer<UInt8>) -> String {
            var units: [UInt8] = []
            units.reserveCapacity(raw.count)
            var position = 0
            func unit(at offset: Int) -> UInt32 {
                raw[offset..<offset + 4].reduce(0) { $0 << 4 | UInt32(hexDigit($1)!) }
            }
            while position < raw.count {
                let byte = raw[position]
                guard byte == UInt8(ascii: "\\") else {
                    units.append(byte)
                    position += 1
                    continue
                }
                let kind = raw[position + 1]
                position += 2
                switch kind {
                case UInt8(ascii: "b"): units.append(0x08)
                case UInt8(ascii: "f"): units.append(0x0C)
                case UInt8(ascii: "n"): units.append(0x0A)
                case UInt8(ascii: "r"): units.append(0x0D)
                case UInt8(ascii: "t"): units.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = unit(at: position)
                    position += 4
                    if (0xD800..<0xDC00).contains(scalar) {
                        scalar = 0x10000 + (scalar - 0xD800) << 10 + (unit(at: position + 2) - 0xDC00)
                        position += 6
                    }
                    units.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default: units.append(kind)  // " \ /
                }
            }
            return String(decoding: units, as: UTF8.self)
        }

        /// A number (`-`, digits without a leading zero, optional fraction and exponent): an
        /// integer when it is whole and fits 64 bits, else a finite double.
        private mutating func number(decoding: Bool) -> JSONValue? {
            let start = index
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), Self.isDigit(first) else { return nil }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            var whole = true
            if peek() == UInt8(ascii: ".") {
                whole = false
                index += 1
                guard skipDigits() else { return nil }
            }
            let exponent = peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E")
            if exponent {
                whole = false
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard skipDigits() else { return nil }
            }
            // Undecoded, only a number that may be out of a double's range is read: one with an
            // exponent, or with more digits than the largest double (309) has.
            guard decoding || exponent || index - start > 300 else { return .unparsed }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if whole, let integer = Int64(text) { return decoding ? .integer(integer) : .unparsed }
            guard let number = Double(text), number.isFinite else { return nil }
            return decoding ? .number(number) : .unparsed
        }

        /// Skips digits; whether there was at least one.
        @discardableResult
        private mutating func skipDigits() -> Bool {
            let start = index
            while let byte = peek(), Self.isDigit(byte) { index += 1 }
            return index > start
        }

        private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}
