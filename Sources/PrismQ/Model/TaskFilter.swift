import Foundation

/// Which tasks a list returns. Every field narrows the list; `nil` means any.
public struct TaskFilter: Sendable, Hashable {
    /// Only tasks in this state.
    public var status: TaskStatus?
    /// Only tasks of this type.
    public var type: String?
    /// Only tasks whose payload has this top-level field with this value.
    public var payload: PayloadMatch?

    /// A filter; with no arguments, every task.
    public init(status: TaskStatus? = nil, type: String? = nil, payload: PayloadMatch? = nil) {
        self.status = status
        self.type = type
        self.payload = payload
    }
}

/// A top-level payload field and the JSON value it must equal (`customer_id` = `42`).
///
/// A store may index chosen fields (SQLite: ``SQLiteConfiguration`` `indexedPayloadFields`);
/// a match on any other field still works, by reading every candidate task's payload.
public struct PayloadMatch: Sendable, Hashable {
    /// The field name: a letter or `_`, then up to 63 letters, digits or `_`.
    public var field: String
    /// The value: a JSON string, number, boolean or `null` (which matches a missing field too).
    public var value: RawJSON

    /// A match of `field` against `value`.
    ///
    /// - Throws: `invalidArgument` for a field name outside the pattern or a value that is an
    ///   object or an array.
    public init(field: String, value: RawJSON) throws(QueueError) {
        try Self.validate(field: field)
        guard let first = value.text.first, first != "{", first != "[" else {
            throw QueueError(.invalidArgument, "A payload match compares with a string, number, boolean or null.")
        }
        self.field = field
        self.value = value
    }

    /// Reads `FIELD=VALUE`: the value as JSON when it is a JSON scalar, else as a string.
    public init(parsing text: String) throws(QueueError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw QueueError(.invalidArgument, "A payload match is written FIELD=VALUE.")
        }
        let value = String(text[text.index(after: equals)...])
        let json = (try? RawJSON(validating: value)) ?? RawJSON(unchecked: JSONText.quoted(value))
        try self.init(field: String(text[..<equals]), value: json)
    }

    /// Checks a payload field name.
    public static func validate(field: String) throws(QueueError) {
        let bytes = Array(field.utf8)
        func isLetter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
        guard (1...64).contains(bytes.count), isLetter(bytes[0]),
            bytes.allSatisfy({ isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else {
            throw QueueError(
                .invalidArgument, "A payload field name is a letter or '_' followed by up to 63 letters, digits or '_'."
            )
        }
    }
}

/// One page of a task list: how many, and where to continue.
public struct PageRequest: Sendable, Hashable {
    /// The page size, 1–1000; 100 by default.
    public var limit: Int
    /// The `nextCursor` of the previous page, or `nil` for the first page.
    public var cursor: PageCursor?

    /// A page request; the first 100 tasks by default.
    public init(limit: Int = 100, cursor: PageCursor? = nil) {
        self.limit = limit
        self.cursor = cursor
    }
}

/// An opaque position in a newest-first task list.
///
/// Pages continue strictly below the last id shown, and ids only grow, so tasks enqueued
/// meanwhile never shift a page: an unfiltered (or type-filtered) list shows each task that
/// existed when it began exactly once. With a status filter, a task that changes state between
/// pages may be missed or shown in its new state.
public struct PageCursor: Sendable, Hashable, CustomStringConvertible {
    /// The id of the last task of the previous page; the next page starts below it.
    package let lastID: Int64

    package init(lastID: Int64) {
        self.lastID = lastID
    }

    /// Reads a cursor from its text form.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` for anything that is not a cursor PrismQ made.
    public init(parsing text: String) throws(QueueError) {
        guard let data = Data(base64URLEncoded: text),
            let decoded = String(data: data, encoding: .utf8),
            decoded.hasPrefix("v1:"),
            let id = Int64(decoded.dropFirst(3)), id > 0
        else {
            throw QueueError(.invalidArgument, "The cursor is malformed.")
        }
        self.lastID = id
    }

    /// The opaque text form, safe in a URL.
    public var description: String { Data("v1:\(lastID)".utf8).base64URLEncodedString() }
}

/// A page of tasks, newest first.
public struct TaskPage: Sendable, Hashable {
    /// The tasks of this page.
    public var tasks: [QueueTask]
    /// Where the next page starts; `nil` on the last page.
    public var nextCursor: PageCursor?

    /// Makes a page.
    public init(tasks: [QueueTask], nextCursor: PageCursor?) {
        self.tasks = tasks
        self.nextCursor = nextCursor
    }
}

extension Data {
    fileprivate init?(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    fileprivate func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
