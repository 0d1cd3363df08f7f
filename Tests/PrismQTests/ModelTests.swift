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

    /// Only RFC 3339's `date-time` is read, in the Gregorian calendar the writer uses; the
    /// fuzzer found that Foundation's parser took "6-12-04T10:00:0.0+06+01:30" (year 6, two
    /// offsets) and read years before 1582 in the Julian calendar.
    @Test func rfc3339ReadsOnlyItsGrammarAndValidDates() throws {
        #expect(try RFC3339.date(from: "2024-02-29t23:59:59.9995z") == Date(timeIntervalSince1970: 1_709_251_200))
        #expect(
            try RFC3339.date(from: "2026-12-04T10:00:00.1234567-01:30")
                == Date(timeIntervalSince1970: 1_796_383_800.123))
        #expect(RFC3339.string(from: try RFC3339.date(from: "0006-12-04T10:00:00Z")) == "0006-12-04T10:00:00.000Z")
        for text in [
            "6-12-04T10:00:0.0+06+01:30", "2026-12-04T10:00:00+0100", "2026-12-04 10:00:00Z", "2026-12-04T10:00:00",
            "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-04T24:00:00Z",
            "2026-12-04T10:60:00Z", "2026-12-04T10:00:60Z", "2026-12-04T10:00:00.Z", "2026-12-04T10:00:00+24:00",
            "2026-12-04T10:00:00Z ", "+2026-12-04T10:00:00Z", "2026-12-04T10:00:00\u{0}Z", "２026-12-04T10:00:00Z",
            "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59.9995Z",
        ] {
            #expect(throws: QueueError(.invalidArgument), "\(text)") { try RFC3339.date(from: text) }
        }
    }

    @Test func finishedStatesAreCompletedDeadAndCancelled() {
        #expect(TaskStatus.allCases.filter(\.isFinished) == [.completed, .dead, .cancelled])
    }
}
