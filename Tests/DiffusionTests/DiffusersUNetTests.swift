// The built-in U-Net against diffusers: each folder of scripts/make_diffusers_fixtures.py
// (save_pretrained output: config.json + diffusion_pytorch_model.safetensors) loads, and one
// forward — interpreted and through the compiled plan — matches PyTorch's to 1e-4 of the scale;
// the same weights saved as diffusion_pytorch_model.bin give the same forward bit for bit.

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors

@Suite struct DiffusersUNetTests {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/diffusers")
    static let folders = ["small_attention", "small_plain", "legacy_attention"]

    @Test(arguments: folders) func forwardMatchesDiffusers(_ name: String) throws {
        let folder = Self.root.appendingPathComponent(name)
        let model = try ModelLoader.open(folder.path)
        let graph = model.graph
        let x = try NumPy.read(folder.appendingPathComponent("x.npy").path), t = try NumPy.read(folder.appendingPathComponent("t.npy").path)
        guard case .float(let expected) = try NumPy.read(folder.appendingPathComponent("y.npy").path) else { return }
        let inputs: [ValueID: Value] = [graph.inputs[0]: x, graph.inputs[1]: t]
        let plan = try InferencePlan(graph, inputShapes: inputs.mapValues(\.shape), cpu: CPU(threads: 2))
        for (how, output) in [("interpreted", try Interpreter(cpu: CPU(threads: 2)).run(graph, inputs: inputs)[0]), ("compiled", try plan.run(inputs)[0])] {
            guard case .float(let y) = output, y.shape == expected.shape else { Issue.record("\(name) \(how): shape \(output.shape)"); continue }
            var worst: Float = 0, scale: Float = 1e-30
            for i in 0..<y.count { worst = max(worst, abs(y.pointer[i] - expected.pointer[i])); scale = max(scale, abs(expected.pointer[i])) }
            #expect(worst / scale <= 1e-4, "\(name) \(how): error \(worst / scale) of scale")
        }
    }

    /// small_plain's weights as `diffusion_pytorch_model.bin` (torch.save, no safetensors): the same
    /// forward bit for bit, as a model folder and as a pipeline's `unet/`.
    @Test func binWeightsEqualSafetensors() throws {
        let plain = Self.root.appendingPathComponent("small_plain").path, bin = Self.root.appendingPathComponent("small_plain_bin").path
        #expect(DiffusersFolder.isDiffusers(bin))
        let pipeline = NSTemporaryDirectory() + "denoise-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: pipeline, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: pipeline) }
        try FileManager.default.copyItem(atPath: bin, toPath: pipeline + "/unet")
        let x = try NumPy.read(plain + "/x.npy"), t = try NumPy.read(plain + "/t.npy")
        func forward(_ folder: String) throws -> [Float] {
            let graph = try ModelLoader.open(folder).graph
            guard case .float(let y) = try Interpreter(cpu: CPU(threads: 2)).run(graph, inputs: [graph.inputs[0]: x, graph.inputs[1]: t])[0] else {
                Issue.record("\(folder): not a float output")
                return []
            }
            return y.scalars
        }
        let reference = try forward(plain)
        #expect(!reference.isEmpty)
        #expect(try forward(bin) == reference, "small_plain_bin differs from small_plain; regenerate with `make_diffusers_fixtures.py small_plain_bin`")
        #expect(try forward(pipeline) == reference)
    }

    @Test func badConfigsAreNamed() throws {
        let dir = NSTemporaryDirectory() + "denoise-unet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = Self.root.appendingPathComponent("small_attention")
        try FileManager.default.copyItem(atPath: source.appendingPathComponent("diffusion_pytorch_model.safetensors").path,
                                         toPath: dir + "/diffusion_pytorch_model.safetensors")
        for (config, words) in [(#"{"down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], "block_out_channels": [32, 64]}"#, "CrossAttnDownBlock2D"),
                                (#"{"block_out_channels": [32, 64, 64], "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"], "norm_num_groups": 8, "layers_per_block": 1, "sample_size": 16}"#, "missing")] {
            try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
            do { _ = try ModelLoader.open(dir); Issue.record("no error for \(config)") } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
    }
}
