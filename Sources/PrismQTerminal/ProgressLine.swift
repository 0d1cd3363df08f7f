import Foundation
import PrismQ

/// A progress bar on standard error, redrawn in place with the rate and the time left, when
/// standard error is a terminal (and silent otherwise).
package final class ProgressLine: @unchecked Sendable {
    private var total: Int
    private let unit: String
    private let start = ContinuousClock.now
    private var lastDrawn = ContinuousClock.now - .seconds(1)
    private let enabled = isatty(STDERR_FILENO) == 1

    /// A bar counting up to `total` `unit`.
    package init(total: Int, unit: String) {
        self.total = total
        self.unit = unit
    }

    /// Shows `done` of the total (at most ten times a second).
    package func update(_ done: Int) {
        guard enabled, ContinuousClock.now - lastDrawn >= .milliseconds(100) else { return }
        lastDrawn = .now
        draw(done)
    }

    /// Shows `done` of `total`, a total that may change as the work goes (at most ten times a
    /// second).
    package func update(_ done: Int, of total: Int) {
        self.total = total
        update(done)
    }

    /// Clears the bar.
    package func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func draw(_ done: Int) {
        let elapsed = max((ContinuousClock.now - start).inSeconds, 0.001)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let left = rate > 0 ? Double(max(0, total - done)) / rate : 0
        let line = "\r[\(bar)] \(done)/\(total) \(unit)  \(Int(rate))/s  ETA \(Int(left.rounded(.up)))s\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
