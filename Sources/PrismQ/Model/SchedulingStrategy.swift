import Foundation

/// How a worker picks among ready tasks. Every strategy is an index-backed claim whose cost
/// does not grow with the number of ready tasks.
///
/// An open set: a later version may add strategies, so a `switch` over one needs a
/// `default`. ``allCases`` lists the strategies this version knows; a claim with any other is
/// refused.
public struct SchedulingStrategy: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The contract's name of the strategy.
    public let rawValue: String

    /// The strategy with this contract name, known to this version or not.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Oldest ready first (by the time the task became ready, then id).
    public static let fifo = SchedulingStrategy(rawValue: "fifo")
    /// Newest ready first.
    public static let lifo = SchedulingStrategy(rawValue: "lifo")
    /// Highest priority first, then oldest ready.
    public static let priority = SchedulingStrategy(rawValue: "priority")
    /// A ready task's chance is proportional to its weight `max(1, priority)`; nothing starves.
    public static let weightedRandom = SchedulingStrategy(rawValue: "weighted_random")

    /// The strategies this version knows.
    public static let allCases: [SchedulingStrategy] = [.fifo, .lifo, .priority, .weightedRandom]

    /// Reads a strategy this version knows by its contract name (`fifo`, `lifo`, `priority`,
    /// `weighted_random`; any letter case, `-` for `_`).
    ///
    /// - Throws: `invalidArgument` for any other name.
    public init(parsing name: String) throws(QueueError) {
        let strategy = SchedulingStrategy(rawValue: name.lowercased().replacingOccurrences(of: "-", with: "_"))
        guard Self.allCases.contains(strategy) else {
            throw QueueError(
                .invalidArgument, "Unknown strategy '\(name)'; use fifo, lifo, priority or weighted_random."
            )
        }
        self = strategy
    }

    public var description: String { rawValue }
}
