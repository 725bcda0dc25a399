// QueryString against the running server: raw query strings sent to GET /generate get the error
// that `GenerateRequest(query: QueryString.items(raw))` gives, so the split the fuzz harness
// replays queries through is libmicrohttpd's (separators, '+', %HH, bad escapes, a decoded NUL,
// empty items, keys without values). Every query here is refused, so nothing is generated.

import Foundation
import Testing
@testable import DenoiseServer

@Suite(.serialized) struct QueryStringTests {
    static let queries = [
        "steps=%41bc", "steps=1+2", "n=%2B99", "foo", "a&steps=5", "steps=5&&n=0", "&&&", "=&", "=x",
        "sampler=%zz%4", "sampler=a%00b", "k%3Dv=1", "steps==5", "model=%C3%A9", "sampler=%FF%FE",
        "steps=5&steps=6", "steps=5&n=2&seed=-1", "steps", "steps=", "class=1,,2&n=3",
    ]

    @Test func splitMatchesLibmicrohttpd() throws {
        let server = try TestServer()
        for raw in Self.queries {
            let reply = try request(server.port, "/generate?" + raw)
            var expected = (status: 200, error: "")
            do { _ = try GenerateRequest(query: QueryString.items(Array(raw.utf8)), models: server.engine.models, options: server.server.options) } catch {
                expected = ((error as? RequestError)?.status ?? 400, "\(error)")
            }
            #expect(expected.status != 200, "\(raw) is accepted: pick queries the server refuses")
            #expect(reply.status == expected.status && reply.error == expected.error,
                    "\(raw): the server says \(reply.status) '\(reply.error)', the split gives \(expected.status) '\(expected.error)'")
        }
    }

    @Test func itemsKeepOrderAndAbsentValues() {
        let items = QueryString.items(Array("b=2&a&c=x+y%21&=z".utf8))
        #expect(items.map(\.0) == ["b", "a", "c", ""])
        #expect(items.map(\.1) == ["2", nil, "x y!", "z"])
        #expect(QueryString.items([]).isEmpty)
    }
}
