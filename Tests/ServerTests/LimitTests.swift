// The request limits over real sockets: 414 for a long request target, 413 for a large body (from
// Content-Length, and while reading a chunked one), 408 for a client that sends too slowly. Each
// is answered (not a dropped connection) and none reaches the engine.

import Foundation
import Testing
@testable import DenoiseServer

@Suite(.serialized) struct LimitTests {
    /// No generation ran or waits.
    func expectNoGeneration(_ s: TestServer) throws {
        #expect(s.engine.load.active == 0 && s.engine.load.queued == 0)
        let metrics = String(decoding: try request(s.port, "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("denoise_denoising_steps_total 0\n"), "\(metrics)")
    }

    @Test func longTargetIs414() throws {
        let s = try TestServer()
        for length in [9_000, 20_000, 200_000] {
            let r = try request(s.port, "/generate?steps=2&seed=" + String(repeating: "1", count: length))
            #expect(r.status == 414, "\(length) bytes: \(r.status) \(r.error)")
            #expect(length > 100_000 || r.error.contains("longer than the 8192 allowed"), "\(r.error)")
        }
        // Just under the limit is an ordinary (here invalid) request.
        let fits = try request(s.port, "/generate?steps=2&color=" + String(repeating: "r", count: 8000))
        #expect(fits.status == 400 && fits.error.contains("unknown parameter 'color'"))
        try expectNoGeneration(s)
    }

    @Test func largeBodyIs413() throws {
        let s = try TestServer { $0.maxBody = 1000 }
        // Refused from Content-Length alone: no body is sent.
        let fd = try connectSocket(s.port)
        try sendAll(fd, Data("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n".utf8))
        let early = try readReply(fd)
        close(fd)
        #expect(early.status == 413 && early.error.contains("9000000 bytes is larger than the 1000 allowed"), "\(early.status) \(early.error)")
        // Chunked: counted while reading.
        let chunked = try connectSocket(s.port)
        var text = "POST /v1/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        for _ in 0..<5 { text += "200\r\n" + String(repeating: " ", count: 512) + "\r\n" }
        text += "0\r\n\r\n"
        try sendAll(chunked, Data(text.utf8))
        let late = try readReply(chunked)
        close(chunked)
        #expect(late.status == 413 && late.error.contains("larger than the 1000 bytes allowed"), "\(late.status) \(late.error)")
        // Within the limit, chunked works.
        let ok = try connectSocket(s.port)
        let body = #"{"steps": 2, "seed": 1}"#
        try sendAll(ok, Data("POST /v1/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n".utf8))
        let reply = try readReply(ok)
        close(ok)
        #expect(reply.status == 200, "\(reply.status) \(reply.error)")
    }

    @Test func slowClientIs408() throws {
        let s = try TestServer { $0.requestTimeout = 0.3 }
        // Headers that never end.
        let fd = try connectSocket(s.port)
        try sendAll(fd, Data("GET /generate?steps=2 HTTP/1.1\r\nHo".utf8))
        let start = Date()
        let r = try readReply(fd)
        close(fd)
        #expect(r.status == 408 && r.error.contains("not received within 0.3 s"), "\(r.status) \(r.error)")
        #expect(Date().timeIntervalSince(start) < 5)
        // A body that stops short.
        let body = try connectSocket(s.port)
        try sendAll(body, Data("POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"steps\":".utf8))
        let b = try readReply(body)
        close(body)
        #expect(b.status == 408, "\(b.status) \(b.error)")
        // A request that arrives in time still works, also after an idle pause shorter than the timeout.
        #expect(try request(s.port, "/healthz").status == 200)
        try expectNoGeneration(s)
    }
}
