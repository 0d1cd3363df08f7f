import Foundation
import GRDB
import PrismQ
import Testing

@testable import PrismQSQLite

@Suite("Payload filters and their generated columns", .timeLimit(.minutes(5)))
struct PayloadFilterTests {
    let directory = TemporaryDirectory()

    func store(indexing fields: [String]) throws -> SQLiteStore {
        var configuration = SQLiteConfiguration()
        configuration.indexedPayloadFields = fields
        return try SQLiteStore(path: directory.file("queue.db"), configuration: configuration)
    }

    func ids(_ store: SQLiteStore, _ filter: TaskFilter, limit: Int = 100) async throws -> [Int64] {
        var ids: [Int64] = []
        var cursor: PageCursor?
        repeat {
            let page = try await store.tasks(matching: filter, page: PageRequest(limit: limit, cursor: cursor))
            ids += page.tasks.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        return ids
    }

    func match(_ field: String, _ value: String) throws -> PayloadMatch {
        try PayloadMatch(field: field, value: RawJSON(validating: value))
    }

    @Test func aMatchComparesJSONValuesAndCombinesWithTheOtherFilters() async throws {
        for indexed in [[], ["customer"]] {
            let directory = TemporaryDirectory()
            var configuration = SQLiteConfiguration()
            configuration.indexedPayloadFields = indexed
            let store = try SQLiteStore(path: directory.file("q.db"), configuration: configuration)
            let payloads = [
                #"{"customer":42}"#, #"{"customer":"42"}"#, #"{"customer":7}"#, "[1]", #""customer""#,
                #"{"other":42}"#, #"{"customer":42,"x":[1]}"#, #"{"customer":null}"#, #"{"customer":true}"#,
            ]
            let tasks = try await store.enqueue(
                payloads.enumerated().map { n, text in
                    NewTask(type: n % 2 == 0 ? "even" : "odd", payload: try! RawJSON(validating: text))
                }
            ).map(\.task.id)
            try await store.force(tasks[6], to: .dead)
            #expect(try await ids(store, TaskFilter(payload: try match("customer", "42"))) == [tasks[6], tasks[0]])
            #expect(try await ids(store, TaskFilter(payload: try match("customer", #""42""#))) == [tasks[1]])
            // `null` matches a null field and a missing one alike.
            #expect(
                try await ids(store, TaskFilter(payload: try match("customer", "null")))
                    == [tasks[7], tasks[5], tasks[4], tasks[3]]
            )
            #expect(try await ids(store, TaskFilter(payload: try match("customer", "true"))) == [tasks[8]])
            #expect(try await ids(store, TaskFilter(payload: try match("customer", "42")), limit: 1).count == 2)
            #expect(try await ids(store, TaskFilter(status: .dead, payload: try match("customer", "42"))) == [tasks[6]])
            #expect(
                try await ids(store, TaskFilter(type: "even", payload: try match("customer", "42"))) == [
                    tasks[6], tasks[0],
                ])
            #expect(try await ids(store, TaskFilter(type: "odd", payload: try match("customer", "42"))).isEmpty)
        }
    }

    @Test func anIndexedFieldIsReadThroughItsIndexByEveryProcess() async throws {
        let first = try store(indexing: ["customer", "Customer"])
        #expect(first.indexedPayloadFields == ["customer", "Customer"])
        let reopened = try store(indexing: [])
        #expect(reopened.indexedPayloadFields == ["customer", "Customer"], "indexes made earlier are found again")
        _ = try await reopened.enqueue([
            NewTask(type: "t", payload: try RawJSON(validating: #"{"customer":1,"Customer":2}"#))
        ])
        #expect(try await ids(reopened, TaskFilter(payload: try match("Customer", "2"))).count == 1)
        #expect(try await ids(reopened, TaskFilter(payload: try match("customer", "2"))).isEmpty)
        for filter in [
            TaskFilter(payload: try match("customer", "1")),
            TaskFilter(type: "t", payload: try match("customer", "1")),
            TaskFilter(status: .queued, payload: try match("customer", "1")),
        ] {
            let (sql, arguments) = SQLiteStore.listQuery(
                filter, PageRequest(), indexedFields: reopened.indexedPayloadFields)
            let plan = try await reopened.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map {
                    $0["detail"] as String
                }
            }
            #expect(plan.contains { $0.contains(PayloadIndexes.index("customer")) }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }

    @Test func badFieldsAndValuesAreRejected() throws {
        for field in ["", "1abc", "a-b", "a.b", "a b", String(repeating: "x", count: 65)] {
            #expect(throws: QueueError(.invalidArgument)) { try PayloadMatch(field: field, value: .null) }
            var configuration = SQLiteConfiguration()
            configuration.indexedPayloadFields = [field]
            #expect(throws: QueueError(.invalidArgument)) {
                try SQLiteStore(path: directory.file("q.db"), configuration: configuration)
            }
        }
        for value in ["{}", "[1]"] {
            #expect(throws: QueueError(.invalidArgument)) { try match("a", value) }
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("q.db")))
    }
}
