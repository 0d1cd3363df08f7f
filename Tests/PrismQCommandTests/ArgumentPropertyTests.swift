import ArgumentParser
import Foundation
import PrismQ
import PropertyBased
import Testing

@testable import prismq

/// Properties of how `prismq` reads its arguments, over generated inputs: what is written is
/// read back exactly, and anything else is refused as a user's error with nothing set.
@Suite("Properties of CLI argument parsing", .timeLimit(.minutes(2)))
struct ArgumentPropertyTests {
    /// Milliseconds up to 100 years, and the decimal seconds a user would type for them.
    static let milliseconds = Gen.int(in: 0...3_153_600_000_000)

    static func decimalSeconds(_ milliseconds: Int) -> String {
        let fraction = String(milliseconds % 1000 + 1000).dropFirst()  // three digits
        return fraction == "000" ? "\(milliseconds / 1000)" : "\(milliseconds / 1000).\(fraction)"
    }

    @Test func enqueueOptionsReadBackAsTheTaskTheyDescribe() async throws {
        let priority = Gen.int(in: -1500...1500)
        let attempts = Gen.int(in: -5...120)
        await propertyCheck(count: 300, input: priority, attempts, Self.milliseconds, Self.milliseconds) {
            priority, attempts, delay, timeout in
            let arguments = [
                "--type", "t", "--payload", #"{"n":\#(priority)}"#, "--priority", "\(priority)",
                "--max-attempts", "\(attempts)", "--delay", Self.decimalSeconds(delay),
                "--timeout", Self.decimalSeconds(timeout),
            ]
            let inRange = (-1000...1000).contains(priority) && (1...100).contains(attempts) && timeout > 0
            let read = Result { () throws in try EnqueueCommand.parse(arguments).input() }
            switch read {
            case .success(let task):
                #expect(inRange, "accepted \(arguments)")
                #expect(task.priority == priority && task.maxAttempts == attempts)
                #expect(task.delay == .milliseconds(delay), "--delay \(Self.decimalSeconds(delay))")
                #expect(task.timeout == .milliseconds(timeout), "--timeout \(Self.decimalSeconds(timeout))")
                #expect(task.payload.text == #"{"n":\#(priority)}"#)
            case .failure(let error):
                #expect(!inRange && (error as? QueueError)?.code == .invalidArgument, "refused \(arguments): \(error)")
            }
        }
    }

    @Test func aDurationIsANumberAndAUnitAndNothingElse() async throws {
        let units: [(String, Int)] = [("", 1), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        await propertyCheck(count: 300, input: Gen.int(in: 1...36500), Gen.int(in: 0...(units.count - 1))) {
            count, unit in
            let text = "\(count)\(units[unit].0)"
            #expect((try? Parsing.duration(text, name: "older-than")) == .seconds(count * units[unit].1), "\(text)")
        }
        let noise = Gen<Character?>.element(of: Array("0123456789.smhdx+-e ") as [Character]).map { $0! }
            .string(of: 0...8)
        await propertyCheck(count: 500, input: noise) { text in
            let read = Result { () throws(QueueError) in try Parsing.duration(text, name: "older-than") }
            switch read {
            case .success(let duration):
                #expect(duration > .zero && duration <= TaskValidation.longestDuration, "\(text) → \(duration)")
                #expect(!text.hasPrefix("+") && !text.contains(" "), "\(text) was accepted")
            case .failure(let error):
                #expect(error.code == .invalidArgument && error.message.contains("--older-than"), "\(error)")
            }
        }
    }

    /// Neither rounding noise (a decimal of whole milliseconds) nor a tiny positive value moves a
    /// duration off what was meant: 2.007 s is 2,007 ms, and 0.1 µs rounds up to 1 ms, not 0.
    @Test func secondsRoundUpToTheMillisecondWithoutNoise() throws {
        #expect(try Parsing.seconds(2.007, name: "timeout", allowZero: false) == .milliseconds(2007))
        #expect(try Parsing.seconds(1.1400000000000001, name: "timeout", allowZero: false) == .milliseconds(1140))
        #expect(try Parsing.seconds(1e-7, name: "timeout", allowZero: false) == .milliseconds(1))
        #expect(try Parsing.duration("1e-7s", name: "older-than") == .milliseconds(1))
        #expect(try Parsing.seconds(0.0015, name: "delay", allowZero: true) == .milliseconds(2))
    }

    @Test func aRetentionRuleSetsExactlyItsStatusOrIsRefusedAndChangesNothing() async throws {
        let statuses = ["completed", "dead", "cancelled", "queued", "running", "nonsense"]
        let types = ["", "email.send:", "bad type:", "a:b:"]
        await propertyCheck(
            count: 300, input: Gen.int(in: 0...(statuses.count - 1)), Gen.int(in: 0...(types.count - 1)),
            Gen.int(in: 0...400)
        ) { status, type, days in
            let text = "\(types[type])\(statuses[status])=\(days == 0 ? "forever" : "\(days)d")"
            var policy = RetentionPolicy()
            let before = policy
            let read = Result { () throws(QueueError) in try Parsing.retentionRule(text, into: &policy) }
            let valid = status < 3 && type < 2
            switch read {
            case .success:
                #expect(valid, "accepted \(text)")
                let keep: Duration? = days == 0 ? nil : .seconds(days * 86400)
                let finished = try #require(TaskStatus(rawValue: statuses[status]))
                #expect(policy.keeping(finished, type: type == 1 ? "email.send" : nil) == keep, "\(text)")
                if type == 1 { #expect(policy.byStatus == before.byStatus, "an override leaves the status rule") }
            case .failure(let error):
                #expect(!valid && error.code == .invalidArgument, "refused \(text): \(error)")
                #expect(policy == before, "a refused rule changed the policy: \(text)")
            }
        }
    }
}
