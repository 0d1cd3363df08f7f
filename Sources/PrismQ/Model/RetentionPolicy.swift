import Foundation

/// Which finished tasks a purge deletes: one finished status, finished before a cutoff, of
/// one type or of every type but some.
public struct PurgeSelection: Sendable, Hashable {
    /// Which task types.
    public enum Types: Sendable, Hashable {
        /// Only this type.
        case only(String)
        /// Every type but these (none: every type).
        case allExcept(Set<String>)
    }

    /// `completed`, `dead` or `cancelled`.
    public var status: TaskStatus
    /// Tasks that finished before this moment.
    public var finishedBefore: Date
    public var types: Types

    /// A selection; `status` must be a finished one (checked by ``validate()``).
    public init(status: TaskStatus, finishedBefore: Date, types: Types = .allExcept([])) {
        self.status = status
        self.finishedBefore = finishedBefore
        self.types = types
    }

    /// The statuses a task ends in, which purges may delete.
    public static let finishedStatuses: [TaskStatus] = [.completed, .dead, .cancelled]

    /// - Throws: `invalidArgument` for a status that is not finished or a bad type name.
    public func validate() throws(QueueError) {
        guard Self.finishedStatuses.contains(status) else {
            throw QueueError(
                .invalidArgument,
                "Only finished tasks are purged: completed, dead or cancelled, not \(status.rawValue).")
        }
        switch types {
        case .only(let type): try TaskValidation.validateType(type)
        case .allExcept(let types): for type in types { try TaskValidation.validateType(type) }
        }
    }
}

/// How long finished tasks are kept, by status, with overrides for some task types; `nil`
/// keeps them forever.
public struct RetentionPolicy: Sendable, Hashable {
    /// How long tasks of each finished status are kept: `completed` and `cancelled` 7 days,
    /// `dead` 30 days by default.
    public var byStatus: [TaskStatus: Duration?] = [
        .completed: .seconds(7 * 86400), .dead: .seconds(30 * 86400), .cancelled: .seconds(7 * 86400),
    ]
    /// Overrides for some task types: for each, the statuses whose keeping differs.
    public var byType: [String: [TaskStatus: Duration?]] = [:]

    /// The default policy.
    public init() {}

    /// Every finished task kept for `duration` (`nil`: forever), whatever its status and type.
    public static func keeping(_ duration: Duration?) -> RetentionPolicy {
        var policy = RetentionPolicy()
        for status in PurgeSelection.finishedStatuses { policy.byStatus[status] = duration }
        return policy
    }

    /// How long tasks of `type` in `status` are kept; `nil` forever.
    public func keeping(_ status: TaskStatus, type: String? = nil) -> Duration? {
        if let type, let override = byType[type]?[status] { return override }
        return byStatus[status] ?? nil
    }

    /// What a purge at `now` deletes: for each finished status, the types without an override
    /// past the status's keeping, then each override past its own.
    public func selections(now: Date) -> [PurgeSelection] {
        var selections: [PurgeSelection] = []
        for status in PurgeSelection.finishedStatuses {
            let overridden = Set(byType.filter { $0.value[status] != nil }.keys)
            if let keep = byStatus[status] ?? nil {
                selections.append(
                    PurgeSelection(
                        status: status, finishedBefore: now.addingTimeInterval(-keep.inSeconds),
                        types: .allExcept(overridden)))
            }
            for type in overridden.sorted() {
                guard let keep = byType[type]?[status] ?? nil else { continue }
                selections.append(
                    PurgeSelection(
                        status: status, finishedBefore: now.addingTimeInterval(-keep.inSeconds), types: .only(type)))
            }
        }
        return selections
    }

    /// The policy as `prismq serve --retain` rules, in status order, then each type's
    /// overrides: `completed=7d dead=30d cancelled=7d report.build:completed=90d`.
    public var rules: String {
        func rule(_ target: String, _ keep: Duration?) -> String {
            target + "=" + (keep.map { Self.text($0) } ?? "forever")
        }
        let statuses = PurgeSelection.finishedStatuses.map { rule($0.rawValue, keeping($0)) }
        let overrides = byType.keys.sorted().flatMap { type in
            PurgeSelection.finishedStatuses.compactMap { status in
                byType[type]?[status].map { rule(type + ":" + status.rawValue, $0) }
            }
        }
        return (statuses + overrides).joined(separator: " ")
    }

    /// `keep`, to the millisecond, in the largest unit that writes it whole: `30d`, `6h`,
    /// `90m`, `45s`, `0.5s`, `0s`.
    private static func text(_ keep: Duration) -> String {
        let millis = Int64((keep.inSeconds * 1000).rounded())
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where millis >= size && millis % size == 0 {
            return "\(millis / size)\(unit)"
        }
        return millis == 0 ? "0s" : "\(Double(millis) / 1000)s"
    }

    /// - Throws: `invalidArgument` for a status that is not finished, a bad type name or a
    ///   duration below zero or beyond 100 years.
    public func validate() throws(QueueError) {
        let rules =
            byStatus.map { (nil as String?, $0.key, $0.value) }
            + byType.flatMap { type, rules in rules.map { (type as String?, $0.key, $0.value) } }
        for (type, status, keep) in rules {
            try PurgeSelection(status: status, finishedBefore: Date(), types: type.map { .only($0) } ?? .allExcept([]))
                .validate()
            if let keep, keep < .zero || keep > TaskValidation.longestDuration {
                throw QueueError(.invalidArgument, "A retention must be between zero and 100 years.")
            }
        }
    }
}

/// The retention policy a maintenance round last applied to a queue, as the store keeps it
/// for `prismq check`.
public struct RecordedRetention: Sendable, Equatable {
    /// The policy, as ``RetentionPolicy/rules``.
    public var rules: String
    /// When the round applied it.
    public var recordedAt: Date

    /// A record of `rules` applied at `recordedAt`.
    public init(rules: String, recordedAt: Date) {
        self.rules = rules
        self.recordedAt = recordedAt
    }
}
