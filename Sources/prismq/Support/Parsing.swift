import Foundation
import PrismQ

/// Reads CLI argument text into model values, with the model's error messages.
enum Parsing {
    /// A status name.
    static func status(_ text: String) throws(QueueError) -> TaskStatus {
        try TaskStatus(parsing: text)
    }

    /// A whole or fractional number of seconds (zero allowed or not), rounded up to the
    /// millisecond, at most ``TaskValidation/longestDuration``.
    static func seconds(_ value: Double, name: String, allowZero: Bool) throws(QueueError) -> Duration {
        let longest = Double(TaskValidation.longestDuration.components.seconds)
        guard value.isFinite, allowZero ? value >= 0 : value > 0, value <= longest else {
            throw QueueError(
                .invalidArgument,
                "--\(name) must be \(allowZero ? "zero or more" : "more than zero") seconds, at most 100 years."
            )
        }
        return Duration(seconds: value, rounding: .up)
    }

    /// A duration written as a number and a unit: `90s`, `30m`, `6h`, `7d` (a bare number is
    /// seconds); more than zero, at most ``TaskValidation/longestDuration``.
    static func duration(_ text: String, name: String) throws(QueueError) -> Duration {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Double(unit == nil ? Substring(text) : text.dropLast()), !text.hasPrefix("+") else {
            throw QueueError(
                .invalidArgument,
                "--\(name) takes a number and a unit, such as 90s, 30m, 6h or 7d; '\(text)' is not one.")
        }
        return try seconds(number * (unit ?? 1), name: name, allowZero: false)
    }

    /// A retention rule, `STATUS=DURATION` or `TYPE:STATUS=DURATION` (`DURATION` as
    /// ``duration(_:name:)``, or `forever`), set in `policy`; a refused rule leaves it unchanged.
    static func retentionRule(_ text: String, into policy: inout RetentionPolicy) throws(QueueError) {
        var updated = policy
        try retentionRule(text, setIn: &updated)
        policy = updated
    }

    private static func retentionRule(_ text: String, setIn policy: inout RetentionPolicy) throws(QueueError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let target = parts.first?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        guard parts.count == 2, (1...2).contains(target.count), let statusName = target.last else {
            throw QueueError(
                .invalidArgument,
                "--retain takes STATUS=DURATION or TYPE:STATUS=DURATION, such as dead=30d; not '\(text)'.")
        }
        let status = try TaskStatus(parsing: statusName)
        let keep = parts[1] == "forever" ? nil : try duration(parts[1], name: "retain")
        if target.count == 2 {
            policy.byType[target[0], default: [:]][status] = .some(keep)
        } else {
            policy.byStatus[status] = .some(keep)
        }
        try policy.validate()
    }

    /// A JSON payload: literal text, `@FILE`, or `-` for standard input; UTF-8 without a
    /// byte-order mark.
    ///
    /// - Throws: ``QueueError`` `invalidArgument` when the file cannot be read, or the bytes are
    ///   not valid UTF-8, start with a byte-order mark or are not one JSON value.
    static func payload(_ text: String) throws(QueueError) -> RawJSON {
        if text == "-" {
            return try payload(bytes: FileHandle.standardInput.readDataToEndOfFile())
        }
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw QueueError(.invalidArgument, "Cannot read the payload file \(path).")
            }
            return try payload(bytes: data)
        }
        guard !isRepairedArgument(text) else { throw notUTF8 }
        return try payload(bytes: Data(text.utf8))
    }

    /// Payload bytes as JSON text: refused unless valid UTF-8 without a byte-order mark.
    private static func payload(bytes: Data) throws(QueueError) -> RawJSON {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw notUTF8 }
        guard text.trimmingCharacters(in: .whitespacesAndNewlines).first != "\u{FEFF}" else {
            throw QueueError(.invalidArgument, "The payload starts with a byte-order mark; give UTF-8 without one.")
        }
        return try RawJSON(validating: text)
    }

    private static var notUTF8: QueueError {
        QueueError(.invalidArgument, "The payload is not valid UTF-8.")
    }

    /// Whether `text` is a command-line argument (or its tail, as in `--payload=TEXT`) that was
    /// not valid UTF-8: Swift's `CommandLine.arguments` repairs those with U+FFFD.
    private static func isRepairedArgument(_ text: String) -> Bool {
        guard text.unicodeScalars.contains("\u{FFFD}") else { return false }
        return (0..<Int(CommandLine.argc)).contains { index in
            guard let argument = CommandLine.unsafeArgv[index] else { return false }
            let bytes = UnsafeBufferPointer(start: argument, count: strlen(argument)).map { UInt8(bitPattern: $0) }
            return String(validating: bytes, as: UTF8.self) == nil
                && String(decoding: bytes, as: UTF8.self).hasSuffix(text)
        }
    }
}
