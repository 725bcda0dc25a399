// The class-conditional CLI: `eval --class-labels` against PyTorch's forward, `generate --class`
// recording each sample's class in its PNG and giving the same bytes whatever the batch size,
// `import` keeping the class count, and every misuse named.

import Foundation
import Testing
import Imaging
import ModelIO
import Tensors

private let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../GraphTests/Fixtures/onnx/diffusers_class_cond").standardizedFileURL.path
private let model = fixture + "/diffusers_class_cond.ts.onnx"

@Suite struct ClassCommandTests {
    /// `bench` feeds a class-conditional model labels among its classes (it fed timesteps, and the
    /// embedding lookup failed on the shipped default model).
    @Test func benchRunsAClassConditionalModel() throws {
        let r = try runDenoise(["bench", model, "--batch", "1,3", "--min-seconds", "0.01"])
        #expect(r.status == 0 && r.stdout.contains("ms/forward"), "\(r.stdout)\(r.stderr)")
    }

    @Test func evalTakesClassLabels() throws {
        let dir = NSTemporaryDirectory() + "denoise-class-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try runDenoise(["eval", model, "--x", fixture + "/x.npy", "--t", fixture + "/t.npy", "--class-labels", fixture + "/class_labels.npy", "--out", dir + "/y.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        guard case .float(let y) = try NumPy.read(dir + "/y.npy"), case .float(let expected) = try NumPy.read(fixture + "/y.torch.npy") else {
            Issue.record("outputs are not float"); return
        }
        var worst: Float = 0
        for i in 0..<y.count { worst = max(worst, abs(y.scalars[i] - expected.scalars[i])) }
        #expect(worst / expected.scalars.map(abs).max()! < 1e-4)
        let missing = try runDenoise(["eval", model, "--x", fixture + "/x.npy", "--t", fixture + "/t.npy", "--out", dir + "/y2.npy"])
        #expect(missing.status != 0 && missing.stderr.contains("class-conditional (input 'class_labels'): pass --class-labels"), "\(missing.stderr)")
    }

    @Test func generateRecordsClassesAndIgnoresTheBatchSize() throws {
        let dir = NSTemporaryDirectory() + "denoise-class-\(UUID().uuidString)"
        let common = ["generate", model, "--n", "3", "--steps", "4", "--seed", "9", "--class", "2,0,3"]
        let a = try runDenoise(common + ["--batch-size", "3", "--out", dir + "/a"])
        let b = try runDenoise(common + ["--batch-size", "1", "--out", dir + "/b"])
        #expect(a.status == 0 && b.status == 0 && a.stdout.contains("classes 2,0,3"), "\(a.stderr) \(a.stdout)")
        for k in 0..<3 {
            let name = String(format: "/%06d.png", k)
            let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/a" + name))
            #expect(png == (try Data(contentsOf: URL(fileURLWithPath: dir + "/b" + name))))
            #expect(PNG.text(of: png).contains { $0.0 == "parameters" && $0.1.hasSuffix("class=\([2, 0, 3][k])") })
        }
        for (flags, message) in [(["--class", "4"], "--class: class '4' is not a class of this model (0…3)"),
                                 (["--class", "1,2"], "2 class labels for 3 samples")] {
            let r = try runDenoise(["generate", model, "--n", "3", "--steps", "2", "--grid", dir + "/g.png"] + flags)
            #expect(r.status != 0 && r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        let plain = fixture + "/../diffusers_unet_small/diffusers_unet_small.ts.onnx"
        let r = try runDenoise(["generate", plain, "--n", "1", "--steps", "2", "--class", "1", "--grid", dir + "/g.png"])
        #expect(r.status != 0 && r.stderr.contains("--class: this model is not class-conditional"), "\(r.stderr)")
    }

    @Test func importKeepsTheClasses() throws {
        let dir = NSTemporaryDirectory() + "denoise-class-\(UUID().uuidString)"
        #expect(try runDenoise(["import", model, "--out", dir]).status == 0)
        #expect(try DiffusionModel.readNative(dir).classes == ClassLabels(count: 4))
        let r = try runDenoise(["generate", dir, "--n", "1", "--steps", "2", "--class", "1", "--grid", dir + "/g.png"])
        #expect(r.status == 0, "\(r.stderr)")
    }
}
