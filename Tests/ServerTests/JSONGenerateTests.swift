// POST /v1/generate (JSON in, JSON out) and the Server-Sent Events of both generation routes, over
// real sockets: every image is compared byte for byte with what `denoise generate --out` writes;
// a stream counts one progress event per step; a client closing its stream frees its batch slots;
// JSON mistakes are 400s naming the key.

import Foundation
import Testing
@testable import DenoiseServer
import Diffusion
import ModelIO

/// One Server-Sent Event.
struct ServerEvent {
    let name: String
    let data: [String: Any]
}

/// The events of a `text/event-stream` body.
func events(_ body: Data) -> [ServerEvent] {
    String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
        var name = "message", data = ""
        for line in block.split(separator: "\n") {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        guard !data.isEmpty, let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
        return ServerEvent(name: name, data: object)
    }
}

func json(_ object: [String: Any]) -> Data { try! JSONSerialization.data(withJSONObject: object) }

@Suite(.serialized) struct JSONGenerateTests {
    @Test func jsonBodyReturnsEachSamplesPNG() throws {
        let s = try TestServer()
        let r = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 4, "seed": 9, "n": 3]))
        #expect(r.status == 200 && r.headers["content-type"] == "application/json", "\(r.status) \(r.error)")
        let images = try #require(r.json?["images"] as? [String]).compactMap { Data(base64Encoded: $0) }
        #expect(images == (try s.expectedPNGs(steps: 4, seed: 9, n: 3)))
        #expect(r.json?["seeds"] as? [UInt64] == [9, 9, 9])
        let p = try #require(r.json?["parameters"] as? [String: Any])
        #expect(p["seed"] as? UInt64 == 9 && p["steps"] as? Int == 4 && p["sampler"] as? String == "ddim" && p["n"] as? Int == 3
                && p["model"] as? String == "tiny" && p["classes"] == nil)
        // The same parameters as GET /generate, typed: booleans, a number, the largest seed.
        let o = try request(s.port, "/v1/generate", method: "POST",
                            body: Data(#"{"steps": 3, "seed": 18446744073709551615, "clip_sample": false, "rederive_noise": true, "eta": 0.5, "sampler": "ddim", "timestep_spacing": "trailing", "model": "tiny"}"#.utf8))
        #expect(o.status == 200, "\(o.error)")
        let expected = try s.expectedPNGs(steps: 3, seed: .max, n: 1) {
            $0.clipSample = false; $0.rederiveNoise = true; $0.eta = 0.5; $0.spacing = .trailing
        }
        #expect((o.json?["images"] as? [String])?.compactMap { Data(base64Encoded: $0) } == expected)
        #expect((o.json?["parameters"] as? [String: Any])?["seed"] as? UInt64 == .max)
    }

    @Test func jsonMistakesNameTheKey() throws {
        let s = try TestServer()
        let cases: [(String, Int, String)] = [
            (#"{"steps": "5"}"#, 400, "steps must be an integer, got a string"),
            (#"{"steps": 2.5}"#, 400, "steps must be an integer, got a number"),
            (#"{"steps": 0}"#, 400, "steps must be 1…"),
            (#"{"n": 99}"#, 400, "n must be 1…16, got 99"),
            (#"{"seed": -1}"#, 400, "seed must be an integer"),
            (#"{"seed": true}"#, 400, "seed must be an integer 0…18446744073709551615, got a boolean"),
            (#"{"eta": "0"}"#, 400, "eta must be a number, got a string"),
            (#"{"eta": 1.5}"#, 400, "eta must be a number in [0, 1]"),
            (#"{"clip_sample": 1}"#, 400, "clip_sample must be true or false, got a number"),
            (#"{"sampler": null}"#, 400, "sampler must be a string, got null"),
            (#"{"class": 1}"#, 400, "class: model 'tiny' is not class-conditional"),
            (#"{"color": "red"}"#, 400, "unknown parameter 'color'"),
            (#"{"steps": 2, "steps": 3}"#, 400, "parameter 'steps' given more than once"),
            (#"{"model": "other"}"#, 404, "unknown model 'other'"),
            (#"[1, 2]"#, 400, "must be an object of parameters, got an array"),
            (#"{"steps": 2"#, 400, "malformed JSON body"),
            (#"{"steps": 2,}"#, 400, "malformed JSON body"),
            ("", 400, "malformed JSON body"),
        ]
        for (body, status, fragment) in cases {
            let r = try request(s.port, "/v1/generate", method: "POST", body: Data(body.utf8))
            #expect(r.status == status && r.error.contains(fragment), "\(body): \(r.status) \(r.error)")
        }
        let get = try request(s.port, "/v1/generate")
        #expect(get.status == 405 && get.headers["allow"] == "POST", "\(get.status) \(get.error)")
        #expect(s.engine.load.active == 0 && s.engine.load.queued == 0)
    }

    @Test func classAsNameIntegerOrArray() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond/diffusers_class_cond.ts.onnx").standardizedFileURL.path
        let s = try TestServer(model: ModelLoader.open(path))
        let r = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 3, "seed": 4, "n": 3, "class": [0, "1", 3]]))
        #expect(r.status == 200, "\(r.error)")
        #expect((r.json?["images"] as? [String])?.compactMap { Data(base64Encoded: $0) } == (try s.expectedPNGs(steps: 3, seed: 4, n: 3, classLabels: [0, 1, 3])))
        #expect((r.json?["parameters"] as? [String: Any])?["classes"] as? [Int] == [0, 1, 3])
        let one = try request(s.port, "/v1/generate", method: "POST", body: json(["steps": 3, "seed": 4, "class": 2]))
        #expect((one.json?["images"] as? [String])?.compactMap { Data(base64Encoded: $0) } == (try s.expectedPNGs(steps: 3, seed: 4, n: 1, classLabels: [2])))
        for (body, fragment) in [(#"{"class": []}"#, "class must not be an empty array"), (#"{"class": [1.5]}"#, "class must be an integer, a string or an array of them, got a number"),
                                 (#"{"class": 7}"#, "class: class '7' is not a class")] {
            let e = try request(s.port, "/v1/generate", method: "POST", body: Data(body.utf8))
            #expect(e.status == 400 && e.error.contains(fragment), "\(body): \(e.error)")
        }
    }

    @Test func streamsProgressThenImages() throws {
        let s = try TestServer()
        for (target, method, headers, body) in [("/generate?steps=6&seed=5&n=2&stream=1", "GET", [String: String](), nil),
                                                ("/v1/generate", "POST", ["Accept": "text/event-stream"], json(["steps": 6, "seed": 5, "n": 2]))] {
            let r = try request(s.port, target, method: method, headers: headers, body: body)
            #expect(r.status == 200 && r.headers["content-type"] == "text/event-stream", "\(target): \(r.status)")
            let all = events(r.body)
            let progress = all.filter { $0.name == "progress" }
            #expect(progress.map { $0.data["step"] as? Int } == (1...6).map { $0 } && progress.allSatisfy { $0.data["steps"] as? Int == 6 })
            let images = all.filter { $0.name == "image" }
            #expect(images.map { $0.data["index"] as? Int } == [0, 1] && images.allSatisfy { $0.data["seed"] as? UInt64 == 5 })
            #expect(images.compactMap { ($0.data["png"] as? String).flatMap { Data(base64Encoded: $0) } } == (try s.expectedPNGs(steps: 6, seed: 5, n: 2)))
            #expect(all.last?.name == "done" && (all.last?.data["parameters"] as? [String: Any])?["steps"] as? Int == 6)
        }
        // Errors before the stream starts are plain JSON answers.
        let bad = try request(s.port, "/generate?steps=0&stream=1")
        #expect(bad.status == 400 && bad.error.contains("steps"))
        let badFlag = try request(s.port, "/generate?stream=yes")
        #expect(badFlag.status == 400 && badFlag.error.contains("stream must be true or false"))
    }

    /// n above --max-batch: samples enter over several forwards, yet progress counts each step once.
    @Test func progressCountsStepsWhenSamplesDoNotFitOneBatch() throws {
        let s = try TestServer(maxBatch: 2)
        let r = try request(s.port, "/generate?steps=5&seed=3&n=3&stream=1")
        let all = events(r.body)
        #expect(all.filter { $0.name == "progress" }.map { $0.data["step"] as? Int } == [1, 2, 3, 4, 5])
        let pngs = all.filter { $0.name == "image" }.compactMap { ($0.data["png"] as? String).flatMap { Data(base64Encoded: $0) } }
        #expect(pngs == (try s.expectedPNGs(steps: 5, seed: 3, n: 3)))
    }

    @Test func streamTimeoutIsAnErrorEvent() throws {
        let s = try TestServer(timeout: 0.2)
        let r = try request(s.port, "/generate?steps=1000&stream=1")
        let last = events(r.body).last
        #expect(r.status == 200 && last?.name == "error" && last?.data["status"] as? Int == 504, "\(String(decoding: r.body, as: UTF8.self).suffix(300))")
    }

    @Test func closingTheStreamCancelsTheWork() throws {
        let s = try TestServer()
        let fd = try connectSocket(s.port)
        let body = json(["steps": 1000, "n": 4])
        try sendAll(fd, Data("POST /v1/generate HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        // Wait for the first progress event, then hang up.
        var received = Data(), buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(20)
        while !received.contains(Data("event: progress".utf8)) && Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        #expect(received.contains(Data("event: progress".utf8)))
        #expect(s.engine.load.active == 4)
        close(fd)
        let gone = Date().addingTimeInterval(5)
        while s.engine.load.active > 0 && Date() < gone { Thread.sleep(forTimeInterval: 0.01) }
        #expect(s.engine.load.active == 0, "the closed stream still holds batch slots")
        let metrics = String(decoding: try request(s.port, "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("denoise_active_samples 0") && metrics.contains("denoise_images_generated_total 0"))
    }
}
