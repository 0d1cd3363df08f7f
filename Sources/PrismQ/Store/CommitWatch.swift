/// A subscription to a store's commits (see ``ReadinessStore/watchCommits(_:)``); ``cancel()``
/// ends it.
public struct CommitWatch: Sendable {
    private let stop: @Sendable () -> Void

    /// A subscription that `stop` ends.
    public init(stop: @escaping @Sendable () -> Void) {
        self.stop = stop
    }

    /// Ends the subscription; its callback is not called afterwards.
    public func cancel() {
        stop()
    }
}
