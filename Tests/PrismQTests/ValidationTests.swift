import Foundation
import PrismQ
import Testing

@Suite("Task validation", .timeLimit(.minutes(5)))
struct ValidationTests {
    let validation = TaskValidation()

    @Test func acceptsTheContractsDefaults() throws {
        try validation.validate(NewTask(type: "email.send"))
        try validation.validate(NewTask(type: "A-z_0.9:x", priority: 1000, maxAttempts: 100))
        try validation.validate(NewTask(type: String(repeating: "t", count: 128), priority: -1000, maxAttempts: 1))
    }

    @Test(arguments: ["", "has space", "ünï", "semi;colon", String(repeating: "t", count: 129)])
    func rejectsBadTypes(type: String) {
        #expect(throws: QueueError(.invalidArgument)) { try validation.validate(NewTask(type: type)) }
    }

    @Test(arguments: [-1001, 1001, Int.max])
    func rejectsPrioritiesOutOfRange(priority: Int) {
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", priority: priority))
        }
    }

    @Test(arguments: [0, 101, -1])
    func rejectsAttemptBudgetsOutOfRange(maxAttempts: Int) {
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", maxAttempts: maxAttempts))
        }
    }

    @Test func rejectsRunAfterTogetherWithDelay() {
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", runAfter: Date(), delay: .seconds(1)))
        }
    }

    @Test func rejectsNegativeDelaysAndNonPositiveTimeouts() {
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", delay: .seconds(-1)))
        }
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", timeout: .zero))
        }
    }

    @Test func rejectsIdempotencyKeysOutOfRange() throws {
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", idempotencyKey: ""))
        }
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(NewTask(type: "t", idempotencyKey: String(repeating: "k", count: 257)))
        }
        try validation.validate(NewTask(type: "t", idempotencyKey: String(repeating: "k", count: 256)))
    }

    @Test func enforcesThePayloadLimitInBytes() throws {
        let small = TaskValidation(maxPayloadBytes: 10)
        try small.validate(NewTask(type: "t", payload: RawJSON(validating: "\"12345678\"")))
        let error = #expect(throws: QueueError.self) {
            try small.validate(NewTask(type: "t", payload: RawJSON(validating: "\"123456789\"")))
        }
        #expect(error?.code == .payloadTooLarge)
        #expect(TaskValidation().maxPayloadBytes == 1 << 20)
    }

    @Test func batchesHoldOneToAThousandValidTasks() throws {
        #expect(throws: QueueError(.invalidArgument)) { try validation.validate(batch: []) }
        let tooMany = Array(repeating: NewTask(type: "t"), count: 1001)
        #expect(throws: QueueError(.invalidArgument)) { try validation.validate(batch: tooMany) }
        try validation.validate(batch: Array(repeating: NewTask(type: "t"), count: 1000))
        #expect(throws: QueueError(.invalidArgument)) {
            try validation.validate(batch: [NewTask(type: "t"), NewTask(type: "bad type")])
        }
    }

    @Test func pageLimitsAreOneToAThousand() throws {
        try TaskValidation.validate(PageRequest(limit: 1))
        try TaskValidation.validate(PageRequest(limit: 1000))
        #expect(throws: QueueError(.invalidArgument)) { try TaskValidation.validate(PageRequest(limit: 0)) }
        #expect(throws: QueueError(.invalidArgument)) { try TaskValidation.validate(PageRequest(limit: 1001)) }
    }

    @Test func claimRequestsAreCheckedIncludingTheirWait() throws {
        var request = ClaimRequest(workerID: "w", capabilities: ["t"], maxTasks: 16)
        request.wait = .seconds(30)
        try request.validate()
        for wait in [Duration.seconds(-1), .milliseconds(30_001)] {
            request.wait = wait
            #expect(throws: QueueError(.invalidArgument)) { try request.validate() }
        }
        #expect(throws: QueueError(.invalidArgument)) { try ClaimRequest(workerID: "w", maxTasks: 0).validate() }
        #expect(throws: QueueError(.invalidArgument)) { try ClaimRequest(workerID: "").validate() }
    }
}
