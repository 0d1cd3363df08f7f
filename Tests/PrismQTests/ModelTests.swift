import Foundation
import PrismQ
import Testing

@Suite("Model values", .timeLimit(.minutes(5)))
struct ModelTests {
    struct Email: Codable, Equatable, Sendable {
        var to: String
        var tries: Int
    }

    @Test func rawJSONKeepsAnyValidValueAndRejectsTheRest() throws {
        for text in ["null", "1", "\"s\"", "[1,2]", "{\"a\":{\"b\":[true]}}"] {
            #expect(try RawJSON(validating: text).text == text)
        }
        #expect(try RawJSON(validating: "  {\"a\":1}\n").text == "{\"a\":1}")
        for text in ["", "{", "nul", "{\"a\":}", "1 2"] {
            #expect(throws: QueueError(.invalidArgument)) { try RawJSON(validating: text) }
        }
    }

    @Test func typedPayloadsRoundTrip() throws {
        let json = try RawJSON(encoding: Email(to: "a@b.c", tries: 2))
        #expect(json.text == #"{"to":"a@b.c","tries":2}"#)
        #expect(try json.decode(as: Email.self) == Email(to: "a@b.c", tries: 2))
        #expect(throws: QueueError(.invalidArgument)) { try RawJSON(validating: "[1]").decode(as: Email.self) }
    }

    @Test func cursorsRoundTripAndMalformedOnesAreRejected() throws {
        let page = PageRequest(limit: 5, cursor: try PageCursor(parsing: "djE6NDI"))
        #expect(page.cursor?.description == "djE6NDI")
        for text in ["", "abc!", "djI6NDI", "djE6LTU", "djE6", "djE6eA"] {
            #expect(throws: QueueError(.invalidArgument)) { try PageCursor(parsing: text) }
        }
    }

    @Test func errorsCompareByCodeAndNameTheContractsCodes() {
        #expect(QueueError(.notFound, "a") == QueueError(.notFound, "b"))
        #expect(QueueError(.notFound) != QueueError(.conflict))
        let names = [
            QueueError.Code.invalidArgument, .notFound, .conflict, .leaseLost, .payloadTooLarge, .busy, .storage,
        ].map(\.name)
        #expect(
            names == ["invalid_request", "not_found", "conflict", "lease_lost", "payload_too_large", "busy", "storage"]
        )
    }

    @Test func rfc3339FormatsUTCMillisecondsAndParsesOffsets() throws {
        let date = Date(timeIntervalSince1970: 1_795_338_326.123)
        #expect(RFC3339.string(from: date) == "2026-11-22T09:05:26.123Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(try RFC3339.date(from: "2026-11-22T09:05:26.123Z") == date)
        #expect(try RFC3339.date(from: "2026-11-22T10:05:26+01:00") == Date(timeIntervalSince1970: 1_795_338_326))
        #expect(throws: QueueError(.invalidArgument)) { try RFC3339.date(from: "yesterday") }
    }

    @Test func finishedStatesAreCompletedDeadAndCancelled() {
        #expect(TaskStatus.allCases.filter(\.isFinished) == [.completed, .dead, .cancelled])
    }
}
