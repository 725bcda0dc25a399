// End-to-end tests of `denoise finetune` on an imported ONNX U-Net with BatchNorm (the seed's
// SimpleUnet): the loss falls, BatchNorm running statistics move and are saved, the result
// generates; a run killed with SIGKILL at an arbitrary moment resumes from its last checkpoint
// and follows exactly the loss trajectory of an uninterrupted run.

import Foundation
import Graphs
import Imaging
import ModelIO
import Testing
import Tensors

private let simpleUNet = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/simple_unet/simple_unet.ts.onnx").standardizedFileURL.path

/// A folder of 16 striped 16x16 RGB images.
private func images() throws -> String {
    let dir = NSTemporaryDirectory() + "denoise-ft-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
    for k in 0..<16 {
        var pixels: [UInt8] = []
        for y in 0..<16 { for x in 0..<16 { for c in 0..<3 { pixels.append(((k % 2 == 0 ? x : y) / (1 + k % 4) + c) % 2 == 0 ? 230 : 20) } } }
        try PNG.encode(Image8(width: 16, height: 16, channels: 3, pixels: pixels)).write(to: URL(fileURLWithPath: dir + "/images/\(k).png"))
    }
    return dir
}

/// step → loss of a CSV log (a step logged twice keeps its last value).
/// Step → "loss,lr,grad_norm" of a `--log` CSV (a torn last line, from a killed run, is skipped).
private func losses(_ path: String) throws -> [Int: String] {
    var result: [Int: String] = [:]
    for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst() {
        let parts = line.split(separator: ",")
        if parts.count == 4, let step = Int(parts[0]) { result[step] = parts[1...].joined(separator: ",") }
    }
    return result
}

@Suite(.serialized) struct FinetuneCommandTests {
    @Test func lossFallsAndBatchNormStatisticsAreSaved() throws {
        let dir = try images()
        let r = try runDenoise(["finetune", simpleUNet, "--data", dir + "/images", "--out", dir + "/out", "--steps", "30", "--batch-size", "8",
                                "--lr", "2e-3", "--warmup", "0", "--log", dir + "/loss.csv", "--grad-accum", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let log = try losses(dir + "/loss.csv")
        #expect(log.count == 30, "\(log.count) log lines")
        func loss(_ step: Int) -> Float? { log[step].flatMap { $0.split(separator: ",").first.flatMap { Float($0) } } }
        let first = (1...5).compactMap(loss).reduce(0, +) / 5
        let last = (26...30).compactMap(loss).reduce(0, +) / 5
        #expect(last < 0.8 * first, "loss \(first) → \(last)")
        let before = try ModelLoader.open(simpleUNet).graph, after = try ModelLoader.open(dir + "/out").graph
        let name = before.constants.keys.map { before[$0].name }.first { $0.hasSuffix("running_mean") }
        let find = { (g: Graph, n: String) -> [Float]? in
            g.constants.first { g[$0.key].name == n }.flatMap { if case .float(let t) = $0.value { return t.scalars } else { return nil } }
        }
        if let name { #expect(find(before, name) != nil && find(before, name) != find(after, name), "\(name) did not move") }
        else { Issue.record("no running_mean constant in the fixture") }
        let generated = try runDenoise(["generate", dir + "/out", "--n", "2", "--steps", "5", "--grid", dir + "/g.png"])
        #expect(generated.status == 0, "\(generated.stderr)")
    }

    @Test func killedRunResumesOnTheSameTrajectory() throws {
        let dir = try images()
        let common = ["finetune", simpleUNet, "--data", dir + "/images", "--steps", "16", "--batch-size", "4", "--save-every", "2", "--seed", "5"]
        let whole = try runDenoise(common + ["--out", dir + "/a", "--log", dir + "/a.csv"])
        #expect(whole.status == 0, "\(whole.stderr)")

        // Kill a second run partway (mid-step or mid-checkpoint, wherever it is), then resume it.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let process = Process()
        process.executableURL = bundle.appendingPathComponent("denoise")
        process.arguments = common + ["--out", dir + "/b", "--log", dir + "/b.csv"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try? losses(dir + "/b.csv").count) ?? 0 < 7 { Thread.sleep(forTimeInterval: 0.005) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let killedAt = try losses(dir + "/b.csv").count
        #expect(killedAt >= 7 && killedAt < 16, "killed after \(killedAt) steps")
        let resumed = try runDenoise(common + ["--out", dir + "/b", "--log", dir + "/b.csv", "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try losses(dir + "/a.csv").count >= 8, "the uninterrupted run logged too few steps")
        #expect(try losses(dir + "/b.csv") == losses(dir + "/a.csv"), "the resumed run left the uninterrupted run's loss trajectory")
        let a = try SafeTensors.read(contentsOf: URL(fileURLWithPath: dir + "/a/weights.safetensors"))
        let b = try SafeTensors.read(contentsOf: URL(fileURLWithPath: dir + "/b/weights.safetensors"))
        #expect(a.names == b.names)
        for n in a.names { #expect(try a.tensor(n).scalars == b.tensor(n).scalars, "\(n) differs") }
    }

    @Test func badInputIsReportedBeforeTraining() throws {
        let dir = try images()
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/empty/broken.png"))
        let cases: [([String], String)] = [
            (["--data", dir + "/images", "--out", "/proc/denoise-finetune"], "/proc/denoise-finetune"),
            (["--data", dir + "/empty", "--out", dir + "/o1"], "no readable PNG images"),
            (["--data", dir + "/images", "--out", dir + "/o2", "--train-only", "nothing*"], "no parameters to train"),
            (["--data", dir + "/images", "--out", dir + "/o3", "--loss", "huber"], "--loss"),
        ]
        for (flags, expected) in cases {
            let r = try runDenoise(["finetune", simpleUNet, "--steps", "2"] + flags)
            #expect(r.status != 0 && r.stderr.contains(expected), "\(flags): \(r.stderr)")
        }
        let missing = try runDenoise(["finetune", dir + "/nope.onnx", "--data", dir + "/images", "--out", dir + "/o4"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.onnx"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/o1/model.json") && !FileManager.default.fileExists(atPath: dir + "/o2/model.json"))
    }
}
