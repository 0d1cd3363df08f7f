import PrismQ

/// Any JSON value, as a request body holds it: numbers keep whether they were whole.
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The value as JSON text (object keys sorted).
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .integer(let value): String(value)
        case .number(let value): value.isFinite ? "\(value)" : "null"
        case .string(let value): JSONText.quoted(value)
        case .array(let values): "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { JSONText.quoted($0) + ":" + members[$0]!.text }.joined(separator: ",")
                + "}"
        }
    }

    /// The value as a `RawJSON`.
    var raw: RawJSON { RawJSON(unchecked: text) }
}

/// A JSON object from a request body, read field by field with the contract's errors.
struct JSONBody {
    private let members: [String: JSONValue]

    init(_ members: [String: JSONValue]) {
        self.members = members
    }

    /// Refuses fields the endpoint does not know, so a misspelt option is not silently ignored.
    func allowOnly(_ fields: Set<String>) throws(QueueError) {
        if let unknown = members.keys.sorted().first(where: { !fields.contains($0) }) {
            throw QueueError(.invalidArgument, "Unknown field '\(unknown)'.")
        }
    }

    func has(_ field: String) -> Bool {
        if case .some(.null) = members[field] { return false }
        return members[field] != nil
    }

    func string(_ field: String) throws(QueueError) -> String? {
        switch members[field] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be a string.")
        }
    }

    func integer(_ field: String) throws(QueueError) -> Int64? {
        switch members[field] {
        case nil, .null?: return nil
        case .integer(let value)?: return value
        case .number(let value)? where value == value.rounded() && abs(value) < 9e18: return Int64(value)
        default: throw QueueError(.invalidArgument, "'\(field)' must be an integer.")
        }
    }

    func int(_ field: String) throws(QueueError) -> Int? {
        guard let value = try integer(field) else { return nil }
        guard let int = Int(exactly: value), abs(int) <= 1_000_000_000 else {
            throw QueueError(.invalidArgument, "'\(field)' is out of range.")
        }
        return int
    }

    func number(_ field: String) throws(QueueError) -> Double? {
        switch members[field] {
        case nil, .null?: return nil
        case .integer(let value)?: return Double(value)
        case .number(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be a number.")
        }
    }

    func bool(_ field: String) throws(QueueError) -> Bool? {
        switch members[field] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw QueueError(.invalidArgument, "'\(field)' must be true or false.")
        }
    }

    func strings(_ field: String) throws(QueueError) -> [String]? {
        switch members[field] {
        case nil, .null?: return nil
        case .array(let values)?:
            var strings: [String] = []
            for value in values {
                guard case .string(let string) = value else {
                    throw QueueError(.invalidArgument, "'\(field)' must be an array of strings.")
                }
                strings.append(string)
            }
            return strings
        default: throw QueueError(.invalidArgument, "'\(field)' must be an array of strings.")
        }
    }

    func object(_ field: String) throws(QueueError) -> JSONBody? {
        switch members[field] {
        case nil, .null?: return nil
        case .object(let members)?: return JSONBody(members)
        default: throw QueueError(.invalidArgument, "'\(field)' must be an object.")
        }
    }

    func objects(_ field: String) throws(QueueError) -> [JSONBody]? {
        switch members[field] {
        case nil, .null?: return nil
        case .array(let values)?:
            var bodies: [JSONBody] = []
            for value in values {
                guard case .object(let members) = value else {
                    throw QueueError(.invalidArgument, "Each of '\(field)' must be an object.")
                }
                bodies.append(JSONBody(members))
            }
            return bodies
        default: throw QueueError(.invalidArgument, "'\(field)' must be an array of objects.")
        }
    }

    /// Any JSON value, as given (`nil` when absent).
    func raw(_ field: String) -> RawJSON? {
        members[field].map(\.raw)
    }

    /// A number of seconds as a duration, within `range`.
    func seconds(_ field: String, in range: ClosedRange<Double>) throws(QueueError) -> Duration? {
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
