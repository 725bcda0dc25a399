// The built-in U-Net against diffusers: each folder of scripts/make_diffusers_fixtures.py
// (save_pretrained output: config.json + diffusion_pytorch_model.safetensors) loads, and one
// forward — interpreted and through the compiled plan — matches PyTorch's to 1e-4 of the scale.
// The folders cover every block type UNet2DModel can run and every option (see the script); the
// ONNX exports of four of them (both exporters) import and match the same PyTorch output.
// Configs diffusers cannot run, or denoise does not build, are refused naming the key and value.
// The same weights saved as diffusion_pytorch_model.bin give the same forward bit for bit.

import Foundation
import Testing
import Graphs
import ModelIO
import Tensors
import TestSupport

@Suite struct DiffusersUNetTests {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/diffusers")
    static let folders = ["small_attention", "small_plain", "legacy_attention", "resnet_updown", "skip", "attn_skip", "class_table",
                          "class_timestep", "class_identity", "fourier", "learned", "k_blocks"]
    /// ONNX exports of fixture folders: `<folder>/<folder>.{ts,dynamo}.onnx`.
    static let onnxFiles = ["resnet_updown", "skip", "fourier"].flatMap { ["\($0)/\($0).ts.onnx", "\($0)/\($0).dynamo.onnx"] }
    /// Exports that need an ONNX op the importer lacks, by the op (added on another branch; then these pass).

    /// The graph's inputs, each read from `<input name>.npy` in `folder`.
    static func inputs(_ graph: Graph, _ folder: URL) throws -> [ValueID: Value] {
        var feed: [ValueID: Value] = [:]
        for id in graph.inputs { feed[id] = try NumPy.read(folder.appendingPathComponent("\(graph[id].name).npy").path) }
        return feed
    }

    /// The graph's output, interpreted and through a compiled plan, against `y.npy`.
    static func checkForward(_ graph: Graph, _ folder: URL, _ label: String) throws {
        let inputs = try inputs(graph, folder)
        guard case .float(let expected) = try NumPy.read(folder.appendingPathComponent("y.npy").path) else { Issue.record("\(label): y.npy is not float"); return }
        let plan = try InferencePlan(graph, inputShapes: inputs.mapValues(\.shape), cpu: CPU(threads: 2))
        for (how, output) in [("interpreted", try Interpreter(cpu: CPU(threads: 2)).run(graph, inputs: inputs)[0]), ("compiled", try plan.run(inputs)[0])] {
            guard case .float(let y) = output, y.shape == expected.shape else { Issue.record("\(label) \(how): shape \(output.shape)"); continue }
            let error = relativeError(y, expected)
            #expect(error <= 1e-4, "\(label) \(how): error \(error) of scale")
        }
    }

    @Test(arguments: folders) func forwardMatchesDiffusers(_ name: String) throws {
        let folder = Self.root.appendingPathComponent(name)
        try Self.checkForward(try ModelLoader.open(folder.path).graph, folder, name)
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

    @Test(arguments: onnxFiles) func onnxExportMatchesDiffusers(_ file: String) throws {
        let folder = Self.root.appendingPathComponent(String(file.prefix { $0 != "/" }))
        let path = Self.root.appendingPathComponent(file).path
        try Self.checkForward(try ONNXImporter.load(path), folder, file)
    }

    /// The class-conditional contract: `class_labels` is the third input, int64 `[batch]` for a
    /// num_class_embeds table, float32 `[batch]` for "timestep", float32 `[batch, E]` for "identity".
    @Test func classLabelsInput() throws {
        for (name, type, dims) in [("class_table", ElementType.int64, ["batch"]), ("class_timestep", .float32, ["batch"]),
                                   ("class_identity", .float32, ["batch", "12"]), ("learned", .float32, ["batch"])] {
            let graph = try ModelLoader.open(Self.root.appendingPathComponent(name).path).graph
            #expect(graph.inputs.map { graph[$0].name } == ["x", "t", "class_labels"], "\(name)")
            let labels = graph[graph.inputs[2]]
            #expect(labels.type == type && labels.dims?.map(\.description) == dims, "\(name): \(labels.type) \(labels.dims ?? [])")
        }
        let plain = try ModelLoader.open(Self.root.appendingPathComponent("skip").path).graph
        #expect(plain.inputs.map { plain[$0].name } == ["x", "t"])
    }

    /// Every config diffusers cannot run, or the builder does not implement, is refused naming what was wrong.
    @Test func badConfigsAreNamed() throws {
        let two = #""block_out_channels": [32, 32], "norm_num_groups": 8, "sample_size": 8"#
        let cases: [(String, [String])] = [
            (#"{"down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], \#(two)}"#, ["CrossAttnDownBlock2D", "cross_attention_dim"]),
            (#"{"down_block_types": ["DownEncoderBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], \#(two)}"#, ["DownEncoderBlock2D", "VAE encoder"]),
            (#"{"down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpBlock2D"], \#(two)}"#, ["UpDecoderBlock2D", "VAE decoder"]),
            (#"{"down_block_types": ["KCrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], \#(two)}"#, ["KCrossAttnDownBlock2D"]),
            (#"{"down_block_types": ["NoSuchBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], \#(two)}"#, ["NoSuchBlock2D", "SkipDownBlock2D"]),
            (#"{"down_block_types": ["KDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "KUpBlock2D"], \#(two)}"#, ["KDownBlock2D", "complete set"]),
            (#"{"down_block_types": ["SkipDownBlock2D", "SkipDownBlock2D"], "up_block_types": ["SkipUpBlock2D", "SkipUpBlock2D"], "in_channels": 1, \#(two)}"#, ["down_blocks.0.skip_conv", "in_channels 3"]),
            (#"{"down_block_types": ["DownBlock2D", "SkipDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D", "UpBlock2D"], "block_out_channels": [32, 32, 32], "sample_size": 8}"#, ["down_blocks.1.skip_conv", "only skip blocks before"]),
            (#"{"down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["SkipUpBlock2D", "SkipUpBlock2D"], "out_channels": 1, \#(two)}"#, ["sample path", "1-channel output"]),
            (#"{"down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D"], "up_block_types": ["SkipUpBlock2D", "UpBlock2D", "SkipUpBlock2D"], "block_out_channels": [32, 32, 32], "sample_size": 8}"#, ["sample path ends", "1/2 resolution"]),
            (#"{"down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"], "up_block_types": ["SkipUpBlock2D", "UpBlock2D", "SkipUpBlock2D", "SkipUpBlock2D"], "block_out_channels": [32, 32, 32, 32], "sample_size": 8}"#, ["up_blocks.2", "skip-sample path"]),
            (#"{"mid_block_type": "UNetMidBlock2DCrossAttn", \#(two), "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]}"#, ["mid_block_type 'UNetMidBlock2DCrossAttn'"]),
            (#"{"time_embedding_type": "sinusoidal"}"#, ["time_embedding_type 'sinusoidal'", "learned"]),
            (#"{"time_embedding_type": "learned"}"#, ["num_train_timesteps"]),
            (#"{"class_embed_type": "projection"}"#, ["class_embed_type 'projection'"]),
            (#"{"resnet_time_scale_shift": "spatial"}"#, ["resnet_time_scale_shift 'spatial'", "ResnetBlock2D"]),
            (#"{"act_fn": "tanh"}"#, ["act_fn 'tanh'", "mish"]),
            (#"{"downsample_type": "fir"}"#, ["downsample_type 'fir'", "conv, resnet"]),
            (#"{"norm_num_groups": null}"#, ["down_blocks.0", "norm_num_groups is null"]),
            (#"{"norm_num_groups": 24}"#, ["down_blocks.0.resnets.0.norm1", "224 channels", "24 groups"]),
            (#"{"attention_head_dim": 7, \#(two), "down_block_types": ["AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]}"#, ["down_blocks.0.attentions.0", "attention_head_dim 7"]),
            (#"{"sample_size": 20}"#, ["sample_size 20x20", "multiple of"]),
            (#"{"sample_size": null}"#, ["sample_size"]),
            (#"{"downsample_padding": 2}"#, ["downsample_padding 2"]),
            (#"{"_class_name": "UNet2DConditionModel"}"#, ["_class_name 'UNet2DConditionModel'"]),
            (#"{"block_out_channels": [32, 64]}"#, ["block_out_channels (2)", "down_block_types (4)"]),
        ]
        for (json, words) in cases {
            do {
                _ = try JSONDecoder().decode(UNet2DConfig.self, from: Data(json.utf8)).validated(source: "config.json")
                Issue.record("no error for \(json)")
            } catch {
                for w in words { #expect("\(error)".contains(w), "\(json): \(error)") }
            }
        }
        // diffusers' "UNetRes" alias, a [height, width] sample_size and null mid block are accepted.
        let ok = #"{"down_block_types": ["UNetResDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UNetResUpBlock2D"], "block_out_channels": [32, 32], "norm_num_groups": 8, "sample_size": [8, 16], "mid_block_type": null}"#
        let config = try JSONDecoder().decode(UNet2DConfig.self, from: Data(ok.utf8)).validated(source: "config.json")
        #expect(config.imageShape == [3, 8, 16] && config.midBlockType == nil)
    }

    /// A folder whose weights lack a parameter its config implies names the parameter.
    @Test func missingWeightsAreNamed() throws {
        let dir = NSTemporaryDirectory() + "denoise-unet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = Self.root.appendingPathComponent("small_attention")
        try FileManager.default.copyItem(atPath: source.appendingPathComponent("diffusion_pytorch_model.safetensors").path,
                                         toPath: dir + "/diffusion_pytorch_model.safetensors")
        let config = #"{"block_out_channels": [32, 64, 64], "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"], "norm_num_groups": 8, "layers_per_block": 1, "sample_size": 16}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        do { _ = try ModelLoader.open(dir); Issue.record("no error for missing weights") } catch {
            #expect("\(error)".contains("missing"), "\(error)")
        }
    }
}
