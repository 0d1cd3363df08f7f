import Foundation

/// How a worker picks among ready tasks. Every strategy is an index-backed claim whose cost
/// does not grow with the number of ready tasks.
public enum SchedulingStrategy: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Oldest ready first (by the time the task became ready, then id).
    case fifo
    /// Newest ready first.
    case lifo
    /// Highest priority first, then oldest ready.
    case priority
    /// A ready task's chance is proportional to its weight `max(1, priority)`; nothing starves.
    case weightedRandom = "weighted_random"

    /// Reads a strategy by its contract name (`fifo`, `lifo`, `priority`, `weighted_random`).
    ///
    /// - Throws: `invalidArgument` for any other name.
    public init(parsing name: String) throws(QueueError) {
        guard let strategy = SchedulingStrategy(rawValue: name.lowercased().replacingOccurrences(of: "-", with: "_"))
        else {
            throw QueueError(
                .invalidArgument, "Unknown strategy '\(name)'; use fifo, lifo, priority or weighted_random."
            )
        }
        self = strategy
    }

    public var description: String { rawValue }
}
