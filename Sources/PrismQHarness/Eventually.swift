/// Waits until `condition` holds, checking it every `interval`, for at most `timeout` (long by
/// default: a whole suite runs in parallel on two cores, and only a failing test waits it out).
///
/// - Returns: whether it held in time.
@discardableResult
public func eventually(
    timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
