import Foundation
import PropertyBased
import Testing

@testable import PrismQ

/// Properties of what PrismQ reads from the outside, over generated inputs (a failure prints
/// its input and a seed that replays it).
@Suite("Properties of validation, cursors and times", .timeLimit(.minutes(2)))
struct PropertyTests {
    /// Characters a type may have, some it may not, and Latin-1 beyond ASCII (two UTF-8 bytes).
    static let typeCharacters = Gen<Character>.oneOf(
        Gen.letterOrNumber,
        Gen<Character?>.element(of: Array("._:-._:- /\"\\\n\t") as [Character]).map { $0! },
        Gen.latin1)

    @Test func aTypeIsValidExactlyWhenItIsOneTo128AllowedBytes() async {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-".utf8)
        await propertyCheck(count: 500, input: Self.typeCharacters.string(of: 0...140)) { type in
            let expected = (1...128).contains(type.utf8.count) && type.utf8.allSatisfy(allowed.contains)
            let accepted = Result { () throws(QueueError) in try TaskValidation.validateType(type) }
            switch accepted {
            case .success: #expect(expected, "accepted \(type.debugDescription)")
            case .failure(let error):
                #expect(!expected && error.code == .invalidArgument, "refused \(type.debugDescription)")
            }
        }
    }

    @Test func everyCursorReadsBackAsItself() async throws {
        await propertyCheck(count: 500, input: Gen.int64(in: 1...Int64.max)) { id in
            let cursor = PageCursor(lastID: id)
            #expect((try? PageCursor(parsing: cursor.description)) == cursor)
            #expect(cursor.description.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "URL-safe")
        }
    }

    @Test func anyTextIsEitherRefusedAsACursorOrReadsBackTheSame() async {
        let text = Gen<Character>.oneOf(Gen.letterOrNumber, Gen.latin1).string(of: 0...24)
        await propertyCheck(count: 500, input: text) { text in
            let result = Result { () throws(QueueError) in try PageCursor(parsing: text) }
            switch result {
            case .success(let cursor):
                #expect(cursor.lastID > 0 && (try? PageCursor(parsing: cursor.description)) == cursor)
            case .failure(let error):
                #expect(error.code == .invalidArgument)
            }
        }
        // Encodings of ids that are not positive are refused.
        for id in ["0", "-1", "", "x", "9223372036854775808"] {
            let text = Data("v1:\(id)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(throws: QueueError.self) { try PageCursor(parsing: text) }
        }
    }

    /// Years 1600 to 9999, to the millisecond (before 1582 Foundation's formats use the Julian
    /// calendar, where RFC 3339 and PrismQ use the Gregorian one throughout).
    static let instants = Gen.int64(in: -11_676_096_000_000...253_402_300_799_999)

    @Test func timesAreWrittenAsFoundationWritesThemAndReadBackToTheMillisecond() async {
        let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        await propertyCheck(count: 1000, input: Self.instants) { millis in
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let text = RFC3339.string(from: date)
            // Foundation rounds down, so it is given the instant 0.4 ms on (a `Date` made from
            // milliseconds can be a hair below them).
            #expect(text == foundation.format(date.addingTimeInterval(0.0004)), "\(millis)")
            let read = try RFC3339.date(from: text)
            #expect(Int64((read.timeIntervalSince1970 * 1000).rounded()) == millis, "\(text)")
        }
    }

    /// Every millisecond from year 0 to 9999, in the proleptic Gregorian calendar, reads back
    /// as written.
    @Test func everyTimeTheWriterWritesReadsBack() async {
        await propertyCheck(count: 1000, input: Gen.int64(in: -62_167_219_200_000...253_402_300_799_999)) { millis in
            let text = RFC3339.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
            let read = try RFC3339.date(from: text)
            #expect(Int64((read.timeIntervalSince1970 * 1000).rounded()) == millis, "\(text)")
        }
    }

    @Test func aTimeWithAnOffsetIsTheSameInstantInUTC() async {
        await propertyCheck(count: 300, input: Gen.int64(in: 0...4_102_444_800_000), Gen.int(in: -14 * 60...14 * 60)) {
            millis, offsetMinutes in
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            var style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
            style.timeZone = TimeZone(secondsFromGMT: offsetMinutes * 60)!
            let shifted = style.format(date.addingTimeInterval(0.0004))
            let read = try RFC3339.date(from: shifted)
            #expect(Int64((read.timeIntervalSince1970 * 1000).rounded()) == millis, "\(shifted)")
        }
    }
}
