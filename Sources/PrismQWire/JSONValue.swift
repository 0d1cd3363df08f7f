import PrismQ

/// Any JSON value, as a request body holds it: numbers keep whether they were whole.
package indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
    /// A string, number, array or object that was checked but not decoded: a member of
    /// ``JSONParser/textOnly``, whose text alone is used.
    case unparsed
}

/// A JSON object of a request body: each member's value, and where its text lies in the body.
package struct JSONObject: Sendable {
    package struct Member: Sendable {
        package var value: JSONValue
        package var span: Range<Int>
    }

    package let source: JSONSource
    package var members: [String: Member]
}

/// A JSON object from a request body, read field by field with the contract's errors.
package struct JSONBody {
    private let object: JSONObject
    private var members: [String: JSONObject.Member] { object.members }

    package init(_ object: JSONObject) {
        self.object = object
    }

    /// Refuses fields the endpoint does not know, so a misspelt option is not silently ignored.
    package func allowOnly(_ fields: Set<String>) throws(QueueError) {
        guard !members.keys.allSatisfy(fields.contains) else { return }
        if let unknown = members.keys.sorted().first(where: { !fields.contains($0) }) {
            throw QueueError(.invalidArgument, "Unknown field '\(unknown)'.")
        }
    }

    package func has(_ field: String) -> Bool {
        if case .some(.null) = members[field]?.value { return false }
        return members[field] != nil
    }

    package func string(_ field: String) throws(QueueError) -> String? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be a string.")
        }
    }

    package func integer(_ field: String) throws(QueueError) -> Int64? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .integer(let value)?: return value
        case .number(let value)? where value == value.rounded() && abs(value) < 9e18: return Int64(value)
        default: throw QueueError(.invalidArgument, "'\(field)' must be an integer.")
        }
    }

    package func int(_ field: String) throws(QueueError) -> Int? {
        guard let value = try integer(field) else { return nil }
        guard let int = Int(exactly: value), abs(int) <= 1_000_000_000 else {
            throw QueueError(.invalidArgument, "'\(field)' is out of range.")
        }
        return int
    }

    package func number(_ field: String) throws(QueueError) -> Double? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .integer(let value)?: return Double(value)
        case .number(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be a number.")
        }
    }

    package func bool(_ field: String) throws(QueueError) -> Bool? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be true or false.")
        }
    }

    package func strings(_ field: String) throws(QueueError) -> [String]? {
        let refusal = "'\(field)' must be an array of strings."
        return try array(field, refusal: refusal, elementRefusal: refusal) { value in
            guard case .string(let string) = value else { return nil }
            return string
        }
    }

    package func object(_ field: String) throws(QueueError) -> JSONBody? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .object(let object)?: return JSONBody(object)
        default: throw QueueError(.invalidArgument, "'\(field)' must be an object.")
        }
    }

    package func objects(_ field: String) throws(QueueError) -> [JSONBody]? {
        try array(
            field, refusal: "'\(field)' must be an array of objects.",
            elementRefusal: "Each of '\(field)' must be an object."
        ) { value in
            guard case .object(let object) = value else { return nil }
            return JSONBody(object)
        }
    }

    /// An array field (`nil` when absent or null), each element read by `element`: refused
    /// with `refusal` when it is not an array, with `elementRefusal` when `element` gives `nil`.
    private func array<Element>(
        _ field: String, refusal: String, elementRefusal: String, _ element: (JSONValue) -> Element?
    ) throws(QueueError) -> [Element]? {
        switch members[field]?.value {
        case nil, .null?: return nil
        case .array(let values)?:
            var elements: [Element] = []
            for value in values {
                guard let read = element(value) else { throw QueueError(.invalidArgument, elementRefusal) }
                elements.append(read)
            }
            return elements
        default: throw QueueError(.invalidArgument, refusal)
        }
    }

    /// Any JSON value, as given, byte for byte (`nil` when absent).
    package func raw(_ field: String) -> RawJSON? {
        members[field].map { RawJSON(unchecked: object.source.text($0.span)) }
    }

    /// The `result` of a completion, byte for byte; `nil` when absent or `null`: a result of
    /// `null` is no result, as the client writes none.
    package func result() -> RawJSON? {
        if case .null? = members["result"]?.value { return nil }
        return raw("result")
    }

    /// A number of seconds as a duration, within `range`, in whole milliseconds rounded up (a
    /// short timeout never becomes zero), as `Duration(seconds:rounding:)` converts: a decimal
    /// written from milliseconds (`1.1400000000000001`) reads back as them (1,140 ms, not 1,141).
    package func seconds(_ field: String, in range: ClosedRange<Double>) throws(QueueError) -> Duration? {
        guard let value = try number(field) else { return nil }
        guard value.isFinite, range.contains(value) else {
            throw QueueError(
                .invalidArgument,
                "'\(field)' must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))."
            )
        }
        return Duration(seconds: value, rounding: .up)
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
