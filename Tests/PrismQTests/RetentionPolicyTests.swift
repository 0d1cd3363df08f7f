import Foundation
import PrismQ
import Testing

/// What a retention policy purges, and what it refuses.
@Suite("Retention policy", .timeLimit(.minutes(5)))
struct RetentionPolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func overridesTakeTheirTypeOutOfTheStatusRuleAndForeverPurgesNothing() throws {
        var policy = RetentionPolicy()
        policy.byType["report"] = [.completed: .seconds(90 * 86400)]
        let forever: [TaskStatus: Duration?] = [.completed: nil, .dead: nil]
        policy.byType["audit"] = forever
        #expect(policy.byType["audit"]?.count == 2, "a dictionary literal keeps its nil values")
        let selections = policy.selections(now: now)
        let completed = selections.filter { $0.status == .completed }
        #expect(completed.count == 2, "the general rule and report's; audit keeps forever")
        #expect(completed[0].types == .allExcept(["report", "audit"]))
        #expect(completed[0].finishedBefore == now.addingTimeInterval(-7 * 86400))
        #expect(
            completed[1]
                == PurgeSelection(
                    status: .completed, finishedBefore: now.addingTimeInterval(-90 * 86400), types: .only("report")))
        let dead = selections.filter { $0.status == .dead }
        #expect(dead.map(\.types) == [.allExcept(["audit"])])
        #expect(selections.filter { $0.status == .cancelled }.map(\.types) == [.allExcept([])])
        #expect(policy.keeping(.completed, type: "audit") == nil && policy.keeping(.completed, type: "x") != nil)
        #expect(RetentionPolicy.keeping(nil).selections(now: now).isEmpty)
    }

    @Test func unfinishedStatusesBadTypesAndNegativeDurationsAreRefused() {
        var policy = RetentionPolicy()
        policy.byStatus[.queued] = .seconds(1)
        #expect(throws: QueueError.self) { try policy.validate() }
        policy = RetentionPolicy()
        policy.byType["bad type"] = [.dead: .seconds(1)]
        #expect(throws: QueueError.self) { try policy.validate() }
        policy = RetentionPolicy()
        policy.byStatus[.dead] = .seconds(-1)
        #expect(throws: QueueError.self) { try policy.validate() }
        #expect(throws: Never.self) { try RetentionPolicy().validate() }
    }

    @Test func rulesWriteEachDurationInItsLargestWholeUnit() {
        let cases: [(Duration?, String)] = [
            (.zero, "0s"), (.milliseconds(500), "0.5s"), (.seconds(45), "45s"), (.seconds(5400), "90m"),
            (.seconds(7200), "2h"), (.seconds(0.7 * 86400), "1008m"), (.seconds(36500 * 86400), "36500d"),
            (.milliseconds(1500), "1.5s"), (nil, "forever"),
        ]
        for (keep, text) in cases {
            #expect(RetentionPolicy.keeping(keep).rules == "completed=\(text) dead=\(text) cancelled=\(text)")
        }
    }
}
