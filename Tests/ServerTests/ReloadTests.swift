// Hot reload over real sockets: a native model folder in a temp dir is served, rewritten with other
// weights and reloaded (POST /v1/models/tiny/reload, Engine.reloadAll as SIGHUP does, and
// ModelWatcher polls); each PNG is compared with what `denoise generate` makes from the model
// that should have served it. Failed reloads keep the previous weights; a request running across
// a reload finishes on the weights it started with.

import Foundation
import Testing
@testable import DenoiseServer
import Diffusion
import ModelIO
import Tensors
import TestSupport

/// A temp folder holding a native copy of the tiny U-Net with weights from `seed`.
private func modelFolder(seed: UInt64) throws -> (path: String, model: DiffusionModel) {
    let dir = NSTemporaryDirectory() + "denoise-reload-\(UUID().uuidString)/tiny"
    let model = try TestServer.tinyModel(seed: seed)
    try model.write(to: dir)
    return (dir, model)
}

/// The value of the /metrics line starting with `prefix`, or nil (also when /metrics does not answer).
private func metric(_ port: UInt16, _ prefix: String) -> Int? {
    guard let reply = try? request(port, "/metrics") else { return nil }
    let text = String(decoding: reply.body, as: UTF8.self)
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.split(separator: " ").last ?? "") }
}

private let reloadsOK = "denoise_model_reloads_total{model=\"tiny\",result=\"ok\"}"
private let reloadsFailed = "denoise_model_reloads_total{model=\"tiny\",result=\"error\"}"

@Suite(.serialized) struct ReloadTests {
    @Test func reloadServesTheNewWeightsAndAFailedOneKeepsThem() throws {
        let (dir, a) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        let pngA = try request(s.port, "/generate?steps=5&seed=11")
        let expectedA = try s.expectedPNG(steps: 5, seed: 11, n: 1, model: a)
        #expect(pngA.status == 200 && pngA.body == expectedA)

        let b = try TestServer.tinyModel(seed: 2)
        try b.write(to: dir)
        let r = try request(s.port, "/v1/models/tiny/reload", method: "POST")
        #expect(r.status == 200, "\(r.error)")
        let json = try #require(r.json)
        #expect(json["name"] as? String == "tiny" && json["reloaded"] as? Bool == true && json["parameters"] as? Int == b.graph.parameterCount
                && json["fingerprint"] as? String == b.weightsFingerprint && json["previous_fingerprint"] as? String == a.weightsFingerprint
                && json["generation"] as? Int == 1)
        let pngB = try request(s.port, "/generate?steps=5&seed=11")
        let expectedB = try s.expectedPNG(steps: 5, seed: 11, n: 1, model: b)
        #expect(pngB.status == 200 && pngB.body == expectedB && pngB.body != pngA.body)

        // Corrupt model.json: 422 naming the file; B keeps serving.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/model.json"))
        let bad = try request(s.port, "/v1/models/tiny/reload", method: "POST")
        #expect(bad.status == 422 && bad.headers["content-type"] == "application/json" && bad.error.contains("model.json"), "\(bad.status) \(bad.error)")
        #expect(try request(s.port, "/generate?steps=5&seed=11").body == pngB.body)
        // Missing folder: 422 naming the path.
        try FileManager.default.removeItem(atPath: dir)
        let missing = try request(s.port, "/v1/models/tiny/reload", method: "POST")
        #expect(missing.status == 422 && missing.error.contains(dir), "\(missing.status) \(missing.error)")
        #expect(try request(s.port, "/generate?steps=5&seed=11").body == pngB.body)

        let unknown = try request(s.port, "/v1/models/other/reload", method: "POST")
        #expect(unknown.status == 404 && unknown.error.contains("other"))
        let get = try request(s.port, "/v1/models/tiny/reload")
        #expect(get.status == 405 && get.headers["allow"] == "POST")
        #expect(metric(s.port, reloadsOK) == 1 && metric(s.port, reloadsFailed) == 2)
        #expect(metric(s.port, "denoise_requests_total{route=\"/v1/models/{name}/reload\",status=\"200\"}") == 1)
    }

    @Test func aDifferentImageShapeIsRefused() throws {
        let (dir, a) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        var c = UNet2DConfig()
        c.sampleSize = 16; c.inChannels = 1; c.outChannels = 1; c.blockOutChannels = [8, 16]; c.layersPerBlock = 1; c.normNumGroups = 4
        c.downBlockTypes = ["DownBlock2D", "DownBlock2D"]; c.upBlockTypes = ["UpBlock2D", "UpBlock2D"]
        try DiffusionModel(graph: UNet2DBuilder.initialized(c, seed: 3, cpu: CPU(threads: 2)), schedule: ScheduleConfig(), imageShape: [1, 16, 16])
            .write(to: dir)
        let r = try request(s.port, "/v1/models/tiny/reload", method: "POST")
        #expect(r.status == 422 && r.error.contains("image shape"), "\(r.status) \(r.error)")
        #expect(try request(s.port, "/generate?steps=3&seed=1").body == (try s.expectedPNG(steps: 3, seed: 1, n: 1, model: a)))
    }

    @Test func reloadNeedsTheAPIKey() throws {
        let (dir, _) = try modelFolder(seed: 1)
        let s = try TestServer(apiKey: "sesame", source: ModelSource(path: dir))
        #expect(try request(s.port, "/v1/models/tiny/reload", method: "POST").status == 401)
        #expect(try request(s.port, "/v1/models/tiny/reload", method: "POST", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try request(s.port, "/v1/models/tiny/reload", method: "POST", headers: ["X-API-Key": "sesame"]).status == 200)
        // A model served from memory has nothing to reload from.
        let memory = try TestServer()
        #expect(try request(memory.port, "/v1/models/tiny/reload", method: "POST").status == 409)
    }

    /// A request running when the reload swaps the model finishes on the old weights; the next one gets the new.
    @Test func aRequestInFlightFinishesOnTheOldWeights() throws {
        let (dir, a) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        let b = try TestServer.tinyModel(seed: 2)
        let reply = UnsafeMutablePointer<Reply?>.allocate(capacity: 1)
        defer { reply.deallocate() }
        reply.initialize(to: nil)
        let box = UncheckedBox(reply), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.value.pointee = try? request(s.port, "/generate?steps=500&seed=4&n=2")
            done.signal()
        }
        let deadline = Date().addingTimeInterval(10)
        while s.engine.load.active == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        #expect(s.engine.load.active == 2)
        try b.write(to: dir)
        let report = try s.engine.reload("tiny", trigger: "test")
        #expect(report.fingerprint == b.weightsFingerprint)
        #expect(s.engine.load.active == 2, "the long request ended before the reload: the test proves nothing")
        let fresh = try request(s.port, "/generate?steps=3&seed=9")
        #expect(fresh.body == (try s.expectedPNG(steps: 3, seed: 9, n: 1, model: b)))
        done.wait()
        let old = try #require(reply.pointee)
        let expectedOld = try s.expectedPNG(steps: 500, seed: 4, n: 2, model: a)
        #expect(old.status == 200 && old.body == expectedOld)
    }

    /// What SIGHUP runs: every model reloaded, one log line each.
    @Test func reloadAllAsSIGHUPDoes() throws {
        let (dir, _) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        let b = try TestServer.tinyModel(seed: 2)
        try b.write(to: dir)
        let results = s.engine.reloadAll(trigger: "SIGHUP")
        #expect(results.count == 1 && results[0].name == "tiny")
        if case .failure(let e) = results[0].result { Issue.record("reload failed: \(e)") }
        #expect(try request(s.port, "/generate?steps=3&seed=9").body == (try s.expectedPNG(steps: 3, seed: 9, n: 1, model: b)))
    }

    @Test func watcherReloadsOnceAndRetriesATornWrite() throws {
        let (dir, _) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        let watcher = ModelWatcher(engine: s.engine, interval: 3600)
        #expect(watcher.poll().isEmpty)
        // What `denoise finetune --out` keeps beside the model is not watched.
        try Data("checkpoint".utf8).write(to: URL(fileURLWithPath: dir + "/training.safetensors"))
        #expect(watcher.poll().isEmpty)
        let b = try TestServer.tinyModel(seed: 2)
        try b.write(to: dir)
        #expect(watcher.poll() == ["tiny"])
        #expect(watcher.poll().isEmpty)
        #expect(metric(s.port, reloadsOK) == 1)
        let pngB = try request(s.port, "/generate?steps=3&seed=9")
        #expect(pngB.body == (try s.expectedPNG(steps: 3, seed: 9, n: 1, model: b)))

        // A torn write: the new weights renamed in, model.json not yet. The reload fails, B serves on.
        let (staging, c) = try modelFolder(seed: 3)
        try FileManager.default.removeItem(atPath: dir + "/weights.safetensors")
        try FileManager.default.moveItem(atPath: staging + "/weights.safetensors", toPath: dir + "/weights.safetensors")
        #expect(watcher.poll() == ["tiny"])
        #expect(metric(s.port, reloadsFailed) == 1)
        #expect(try request(s.port, "/generate?steps=3&seed=9").body == pngB.body)
        // model.json lands: the next poll reloads.
        try FileManager.default.removeItem(atPath: dir + "/model.json")
        try FileManager.default.moveItem(atPath: staging + "/model.json", toPath: dir + "/model.json")
        #expect(watcher.poll() == ["tiny"])
        #expect(metric(s.port, reloadsOK) == 2)
        #expect(try request(s.port, "/generate?steps=3&seed=9").body == (try s.expectedPNG(steps: 3, seed: 9, n: 1, model: c)))
    }

    /// The watcher's own thread polls at its interval and stops promptly.
    @Test func watcherPollsOnItsOwnThread() throws {
        let (dir, _) = try modelFolder(seed: 1)
        let s = try TestServer(source: ModelSource(path: dir))
        let watcher = ModelWatcher(engine: s.engine, interval: 0.05)
        watcher.start()
        let b = try TestServer.tinyModel(seed: 2)
        try b.write(to: dir)
        let deadline = Date().addingTimeInterval(20)
        while (metric(s.port, reloadsOK)) != 1 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let began = Date()
        watcher.stop()
        #expect(Date().timeIntervalSince(began) < 5)
        #expect(metric(s.port, reloadsOK) == 1)
        #expect(try request(s.port, "/generate?steps=3&seed=9").body == (try s.expectedPNG(steps: 3, seed: 9, n: 1, model: b)))
    }
}
