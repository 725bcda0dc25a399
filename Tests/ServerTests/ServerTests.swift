// The server over real sockets: started in-process on an ephemeral port, spoken to with a small
// HTTP/1.1 client on POSIX sockets. PNGs are decoded and compared with `denoise generate`'s path;
// every error status is provoked.

import Foundation
import Testing
@testable import DenoiseServer
import Diffusion
import Imaging
import ModelIO
import Tensors
import TestSupport

/// An HTTP response as received.
struct Reply {
    let status: Int
    let headers: [String: String]
    let body: Data
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    var error: String { json?["error"] as? String ?? "" }
}

/// Sends one request (Connection: close; with `body`, its Content-Length) and reads the whole reply.
func request(_ port: UInt16, _ target: String, method: String = "GET", headers: [String: String] = [:], body: Data? = nil) throws -> Reply {
    let fd = try connectSocket(port)
    defer { close(fd) }
    var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for (k, v) in headers { text += "\(k): \(v)\r\n" }
    if let body { text += "Content-Length: \(body.count)\r\n" }
    text += "\r\n"
    try sendAll(fd, Data(text.utf8) + (body ?? Data()))
    return try readReply(fd)
}

/// Writes all of `data`.
func sendAll(_ fd: Int32, _ data: Data) throws {
    var sent = 0
    while sent < data.count {
        let n = data.withUnsafeBytes { send(fd, $0.baseAddress! + sent, data.count - sent, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw RequestError("send failed after \(sent) of \(data.count) bytes") }
        sent += n
    }
}

/// Reads until the server closes, then splits head and body (a chunked body is decoded).
func readReply(_ fd: Int32) throws -> Reply {
    var data = Data(), buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw RequestError("no HTTP header in reply: \(data.count) bytes") }
    let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let status = Int(head[0].split(separator: " ")[1]) ?? 0
    var fields: [String: String] = [:]
    for line in head.dropFirst() {
        if let colon = line.firstIndex(of: ":") {
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    let body = Data(data[split.upperBound...])
    return Reply(status: status, headers: fields, body: fields["transfer-encoding"] == "chunked" ? dechunk(body) : body)
}

/// The payload of a chunked body (as much as arrived).
func dechunk(_ data: Data) -> Data {
    var out = Data(), i = data.startIndex
    while let line = data[i...].range(of: Data("\r\n".utf8)),
          let size = Int(String(decoding: data[i..<line.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16), size > 0 {
        let start = line.upperBound, end = min(start + size, data.endIndex)
        out += data[start..<end]
        i = min(end + 2, data.endIndex)
    }
    return out
}

func connectSocket(_ port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { close(fd); throw RequestError("cannot connect to port \(port)") }
    return fd
}

/// A running server on a tiny random-initialized U-Net (8x8 gray, attention).
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    let engine: Engine
    let model: DiffusionModel
    var port: UInt16 { server.port }

    /// The tiny U-Net (8x8 gray, attention) with weights drawn from `seed`.
    static func tinyModel(seed: UInt64 = 7) throws -> DiffusionModel {
        var c = UNet2DConfig()
        c.sampleSize = 8; c.inChannels = 1; c.outChannels = 1; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1
        c.normNumGroups = 4; c.attentionHeadDim = 8
        c.downBlockTypes = ["DownBlock2D", "AttnDownBlock2D"]; c.upBlockTypes = ["AttnUpBlock2D", "UpBlock2D"]
        return DiffusionModel(graph: try UNet2DBuilder.initialized(c, seed: seed, cpu: CPU(threads: 2)), schedule: ScheduleConfig(), imageShape: [1, 8, 8])
    }

    /// Serves `model` (default: the tiny U-Net; with `source`, as loaded from it) as "tiny";
    /// `configure` sets further server options.
    init(maxBatch: Int = 4, maxQueue: Int = 16, timeout: Double = 60, apiKey: String? = nil, model: DiffusionModel? = nil,
         source: ModelSource? = nil, configure: (inout ServerOptions) -> Void = { _ in }) throws {
        let cpu = CPU(threads: 2)
        self.model = try model ?? source.map { try $0.load($0.path) } ?? Self.tinyModel()
        let model = self.model
        var limits = Engine.Limits()
        (limits.maxBatch, limits.maxQueue) = (maxBatch, maxQueue)
        let metrics = Metrics()
        engine = Engine(models: [try ServedModel(name: "tiny", model: model, cpu: cpu, source: source)], limits: limits, metrics: metrics)
        var o = ServerOptions()
        (o.port, o.timeout, o.apiKey) = (0, timeout, apiKey)
        configure(&o)
        server = HTTPServer(engine: engine, metrics: metrics, options: o, log: { _ in })
        try server.start()
        engine.start(log: { _ in })
        let deadline = Date().addingTimeInterval(120)
        while !engine.ready && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// The PNG `denoise generate` writes for these settings (same code path as the CLI), by
    /// `model` (default: the one served at start).
    func expectedPNG(steps: Int, seed: UInt64, n: Int, classLabels: [Int]? = nil, guidance: Double? = nil, model: DiffusionModel? = nil,
                     adjust: (inout SamplerOptions) -> Void = { _ in }) throws -> Data {
        try expectedPNGs(steps: steps, seed: seed, n: n, classLabels: classLabels, guidance: guidance, model: model, adjust: adjust, grid: true)[0]
    }

    /// What `denoise generate --out DIR` writes: DIR/00000i.png for each sample i (`grid`: for
    /// n>1, the one grid PNG instead).
    func expectedPNGs(steps: Int, seed: UInt64, n: Int, classLabels: [Int]? = nil, guidance: Double? = nil, model: DiffusionModel? = nil,
                      adjust: (inout SamplerOptions) -> Void = { _ in }, grid: Bool = false) throws -> [Data] {
        let generator = try ImageGenerator(model: model ?? self.model, cpu: CPU(threads: 1))
        var o = GenerationOptions()
        (o.count, o.seed, o.batchSize, o.classLabels, o.guidanceScale) = (n, seed, 1, classLabels, guidance)
        o.sampler = generator.defaultSamplerOptions(steps: steps)
        adjust(&o.sampler)
        let samples = try generator.generate(o)
        let labels = try generator.stepper.classLabels(o, samples: 0..<n).compactMap { $0 }
        let record = GenerationRecord(model: "tiny", seed: seed, sampler: o.sampler, classLabels: labels, guidance: guidance)
        let images = try (0..<n).map { try SampleImages.image(samples, index: $0) }
        if grid && n > 1 { return [try record.gridPNG(images)] }
        return try images.indices.map { try record.png(images[$0], sample: $0) }
    }

    deinit {
        server.quiesce()
        engine.stop(reason: "test over")
        server.stop()
    }
}

@Suite(.serialized) struct ServerTests {
    @Test func generateReturnsTheCLIsPNG() throws {
        let s = try TestServer()
        let r = try request(s.port, "/generate?steps=5&seed=11")
        #expect(r.status == 200 && r.headers["content-type"] == "image/png" && r.headers["x-seed"] == "11")
        let image = try PNG.decode(r.body, path: "reply")
        #expect(image.width == 8 && image.height == 8 && image.channels == 1)
        #expect(PNG.text(of: r.body).contains { $0.0 == "parameters" && $0.1.contains("seed=11") && $0.1.contains("steps=5") })
        #expect(r.body == (try s.expectedPNG(steps: 5, seed: 11, n: 1)))
        let grid = try request(s.port, "/generate?steps=4&seed=3&n=3")
        let expectedGrid = try s.expectedPNG(steps: 4, seed: 3, n: 3)
        #expect(grid.status == 200 && grid.body == expectedGrid)
        let random = try request(s.port, "/generate?steps=2")
        #expect(random.status == 200 && UInt64(random.headers["x-seed"] ?? "") != nil)
    }

    /// Concurrent requests share forwards (batch sizes > 1 in /metrics) yet each gets the bytes it gets alone.
    @Test func concurrentRequestsShareBatchesWithoutChangingImages() throws {
        let s = try TestServer(maxBatch: 4)
        let seeds: [UInt64] = [1, 2, 3, 4, 5, 6]
        let replies = UnsafeMutableBufferPointer<Reply?>.allocate(capacity: seeds.count)
        defer { replies.deallocate() }
        replies.initialize(repeating: nil)
        let box = UncheckedBox(replies)
        DispatchQueue.concurrentPerform(iterations: seeds.count) { i in
            box.value[i] = try? request(s.port, "/generate?steps=\(10 + i)&seed=\(seeds[i])&n=\(1 + i % 2)")
        }
        for (i, seed) in seeds.enumerated() {
            let r = try #require(replies[i])
            #expect(r.status == 200, "\(r.error)")
            #expect(r.body == (try s.expectedPNG(steps: 10 + i, seed: seed, n: 1 + i % 2)), "request \(i)")
        }
        let metrics = String(decoding: try request(s.port, "/metrics").body, as: UTF8.self)
        let single = metrics.split(separator: "\n").first { $0.hasPrefix("denoise_batch_size_bucket{le=\"1.0\"}") }
        let total = metrics.split(separator: "\n").first { $0.hasPrefix("denoise_batch_size_count") }
        #expect(single != nil && total != nil && single!.split(separator: " ").last != total!.split(separator: " ").last,
                "no forward had more than one sample:\n\(metrics)")
        #expect(metrics.contains("denoise_images_generated_total 9"))
    }

    /// clip_sample and rederive_noise override the model's sampler defaults for one request.
    @Test func samplerDefaultParameters() throws {
        let s = try TestServer()
        let r = try request(s.port, "/generate?steps=4&seed=2&clip_sample=false&rederive_noise=true")
        #expect(r.status == 200, "\(r.error)")
        #expect(r.body == (try s.expectedPNG(steps: 4, seed: 2, n: 1) { $0.clipSample = false; $0.rederiveNoise = true }))
    }

    @Test func badRequestsGetTheirStatus() throws {
        let s = try TestServer()
        let cases: [(String, String, Int, String)] = [
            ("GET", "/generate?steps=", 400, "steps"), ("GET", "/generate?steps=abc", 400, "integer"),
            ("GET", "/generate?steps=0", 400, "steps"), ("GET", "/generate?steps=5000", 400, "1…1000"),
            ("GET", "/generate?n=0", 400, "n must"), ("GET", "/generate?n=999", 400, "n must"),
            ("GET", "/generate?seed=-1", 400, "seed"), ("GET", "/generate?eta=2", 400, "eta"),
            ("GET", "/generate?sampler=euler", 400, "euler"), ("GET", "/generate?timestep_spacing=odd", 400, "odd"),
            ("GET", "/generate?clip_sample=maybe", 400, "clip_sample must be true or false, got 'maybe'"),
            ("GET", "/generate?rederive_noise=", 400, "rederive_noise"),
            ("GET", "/generate?color=red", 400, "unknown parameter 'color'"), ("GET", "/generate?steps=2&steps=3", 400, "more than once"),
            ("GET", "/generate?model=other", 404, "other"), ("GET", "/nothing", 404, "/nothing"),
            ("POST", "/generate", 405, "POST"), ("DELETE", "/metrics", 405, "DELETE"),
        ]
        for (method, target, status, fragment) in cases {
            let r = try request(s.port, target, method: method)
            #expect(r.status == status && r.headers["content-type"] == "application/json" && r.error.contains(fragment),
                    "\(method) \(target): \(r.status) \(r.error)")
        }
        #expect(try request(s.port, "/generate", method: "POST").headers["allow"] == "GET, HEAD")
    }

    @Test func apiKeyIsRequiredWhenSet() throws {
        let s = try TestServer(apiKey: "sesame")
        #expect(try request(s.port, "/generate?steps=2").status == 401)
        #expect(try request(s.port, "/v1/models", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try request(s.port, "/v1/models", headers: ["Authorization": "Bearer sesame"]).status == 200)
        #expect(try request(s.port, "/generate?steps=2", headers: ["X-API-Key": "sesame"]).status == 200)
        #expect(try request(s.port, "/healthz").status == 200)
    }

    @Test func fullQueueAndTimeout() throws {
        let full = try TestServer(maxQueue: 0)
        let r = try request(full.port, "/generate?steps=2")
        #expect(r.status == 503 && r.headers["retry-after"] != nil && r.error.contains("queue full"), "\(r.status) \(r.error)")
        let slow = try TestServer(timeout: 0.05)
        let t = try request(slow.port, "/generate?steps=1000")
        #expect(t.status == 504 && t.error.contains("timeout"), "\(t.status) \(t.error)")
        // The timed-out request left the batch.
        let deadline = Date().addingTimeInterval(5)
        while slow.engine.load.active > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(slow.engine.load.active == 0)
    }

    @Test func disconnectedClientFreesItsSlots() throws {
        let s = try TestServer()
        let fd = try connectSocket(s.port)
        _ = "GET /generate?steps=1000&n=4 HTTP/1.1\r\nHost: x\r\n\r\n".withCString { send(fd, $0, strlen($0), 0) }
        var deadline = Date().addingTimeInterval(10)
        while s.engine.load.active == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(s.engine.load.active == 4)
        close(fd)
        deadline = Date().addingTimeInterval(5)
        while s.engine.load.active > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(s.engine.load.active == 0, "the disconnected request still holds batch slots")
        let metrics = String(decoding: try request(s.port, "/metrics").body, as: UTF8.self)
        let steps = metrics.split(separator: "\n").first { $0.hasPrefix("denoise_denoising_steps_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
        #expect(steps != nil && steps! < 4000, "the request ran to the end instead of being dropped")
        #expect(metrics.contains("denoise_images_generated_total 0"))
        #expect(try request(s.port, "/generate?steps=2").status == 200)
    }

    @Test func operationsEndpoints() throws {
        let s = try TestServer()
        #expect(try request(s.port, "/healthz").json?["status"] as? String == "ok")
        #expect(try request(s.port, "/readyz").status == 200)
        let models = try request(s.port, "/v1/models").json?["models"] as? [[String: Any]]
        let m = try #require(models?.first)
        #expect(m["name"] as? String == "tiny" && m["image_shape"] as? [Int] == [1, 8, 8] && m["num_train_timesteps"] as? Int == 1000
                && m["prediction_type"] as? String == "epsilon" && (m["parameters"] as? Int ?? 0) == s.model.graph.parameterCount)
        _ = try request(s.port, "/generate?steps=3&seed=1")
        let metrics = String(decoding: try request(s.port, "/metrics").body, as: UTF8.self)
        for name in ["denoise_requests_total{route=\"/generate\",status=\"200\"} 1", "denoise_request_duration_seconds_bucket",
                     "denoise_queue_depth", "denoise_batch_size_count", "denoise_denoising_steps_total 3",
                     "denoise_denoising_steps_per_second", "denoise_images_generated_total 1"] {
            #expect(metrics.contains(name), "missing \(name)")
        }
        // Shutting down: new work is refused and readiness drops.
        s.server.quiesce()
        s.engine.stop(reason: "test")
    }
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
