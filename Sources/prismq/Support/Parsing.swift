import Foundation
import PrismQ

/// Reads CLI argument text into model values, with the model's error messages.
enum Parsing {
    /// A status name.
    static func status(_ text: String) throws(QueueError) -> TaskStatus {
        guard let status = TaskStatus(rawValue: text.lowercased()) else {
            let names = TaskStatus.allCases.map(\.rawValue).joined(separator: ", ")
            throw QueueError(.invalidArgument, "Unknown status '\(text)'; use one of \(names).")
        }
        return status
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
        return .milliseconds(Int64((value * 1000).rounded(.up)))
    }

    /// A JSON payload: literal text, `@FILE`, or `-` for standard input.
    static func payload(_ text: String) throws(QueueError) -> RawJSON {
        if text == "-" {
            return try RawJSON(
                validating: String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self))
        }
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw QueueError(.invalidArgument, "Cannot read the payload file \(path).")
            }
            return try RawJSON(validating: String(decoding: data, as: UTF8.self))
        }
        return try RawJSON(validating: text)
    }
}
