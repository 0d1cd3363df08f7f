import ArgumentParser
import Foundation
import Logging
import PrismQWire

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// How a long-running command's log is written.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    /// swift-log's one line a message.
    case text
    /// One JSON object a line.
    case json
}

/// The log options of the long-running commands (`serve`, `worker`): everything goes to
/// standard error. Metadata keys are dotted (`prismq.task.id`, `prismq.worker.id`); payloads
/// and results are never logged.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var level: Logger.Level = .notice

    @Option(name: .customLong("log-format"), help: "text (a line a message) or json (a JSON object a line).")
    var format: LogFormat = .text

    /// Sends every logger of the process (PrismQ's and its libraries') to standard error in
    /// the chosen format, at the chosen level. Call once, before making loggers.
    func bootstrap() {
        let (level, format) = (self.level, self.format)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes each message as one JSON object on standard error: `time` (RFC 3339, UTC,
/// milliseconds), `level`, `label`, `message`, then the metadata, each key as it is.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        all.merge(metadataProvider?.get() ?? [:]) { _, new in new }
        all.merge(event.metadata ?? [:]) { _, new in new }
        var writer = JSONWriter()
        writer.add("time", Date())
        writer.add("level", event.level.rawValue)
        writer.add("label", label)
        writer.add("message", event.message.description)
        for key in all.keys.sorted() {
            writer.add(key, all[key]?.description)
        }
        FileHandle.standardError.write(Data((writer.json + "\n").utf8))
    }
}
