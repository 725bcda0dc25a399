// DiffusersFolder: a diffusers UNet2DModel as saved by `save_pretrained` — `config.json` and
// `diffusion_pytorch_model.safetensors`, or `diffusion_pytorch_model.bin` (a torch.save'd state
// dict, `safe_serialization=False`, read by TorchCheckpoint) when there is no safetensors file — or
// a pipeline folder holding it in `unet/` with the schedule in `scheduler/scheduler_config.json`.
// Validates config.json (UNet2DConfig: refusals name the key and value) and builds the built-in
// U-Net graph (UNet2DBuilder, whose header states the inputs, class labels included) over the
// file's weights, float32 or fp16/bf16 (diffusers' fp16 variants). Older checkpoints name
// attention weights query/key/value/proj_attn; they are read under those names when the current
// to_q/to_k/to_v/to_out.0 are absent.

import Foundation
import Graphs
import Tensors

public enum DiffusersFolder {
    /// Whether `folder` looks like a diffusers UNet or pipeline folder.
    public static func isDiffusers(_ folder: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: folder + "/diffusion_pytorch_model.safetensors") || fm.fileExists(atPath: folder + "/diffusion_pytorch_model.bin")
            || fm.fileExists(atPath: folder + "/unet/config.json")
    }

    /// Loads the model; the schedule comes from `scheduleConfig`, the pipeline's scheduler folder, or the defaults.
    public static func load(_ folder: String, scheduleConfig: String? = nil) throws -> DiffusionModel {
        let unet = FileManager.default.fileExists(atPath: folder + "/unet/config.json") ? folder + "/unet" : folder
        let configPath = unet + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ModelFileError(path: configPath, problem: "cannot read config.json") }
        let config: UNet2DConfig
        do { config = try JSONDecoder().decode(UNet2DConfig.self, from: data).validated(source: configPath) } catch let e as ModelFileError {
            throw e
        } catch {
            throw ModelFileError(path: configPath, problem: "not a valid UNet2DModel config: \(error)")
        }
        let (weightsPath, weights) = try readWeights(unet)
        let legacy = [".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."]
        let graph: Graph
        do { graph = try UNet2DBuilder.build(config) { name, _ in
            if let t = try weights(name) { return t }
            for (new, old) in legacy where name.contains(new) {
                if let t = try weights(name.replacingOccurrences(of: new, with: old)) { return t }
            }
            throw ModelFileError(path: weightsPath, problem: "parameter '\(name)' that config.json implies is missing")
        } } catch let e as GraphError { throw ModelFileError(path: weightsPath, problem: "\(e)") }
        var schedule = ScheduleConfig()
        let pipelineScheduler = folder + "/scheduler/scheduler_config.json"
        if let scheduleConfig { schedule = try ScheduleConfig.read(scheduleConfig) }
        else if FileManager.default.fileExists(atPath: pipelineScheduler) { schedule = try ScheduleConfig.read(pipelineScheduler) }
        return DiffusionModel(graph: graph, schedule: schedule, imageShape: config.imageShape)
    }

    /// The weights file of the UNet folder `unet` (safetensors preferred, else .bin) and a lookup
    /// giving a parameter's float32 tensor by name, or nil when the file lacks it.
    private static func readWeights(_ unet: String) throws -> (String, (String) throws -> Tensor?) {
        let safetensors = unet + "/diffusion_pytorch_model.safetensors", bin = unet + "/diffusion_pytorch_model.bin"
        if !FileManager.default.fileExists(atPath: safetensors) && FileManager.default.fileExists(atPath: bin) {
            let tensors = Dictionary(try TorchCheckpoint.read(bin).tensors().map { ($0.name, $0.tensor) }) { first, _ in first }
            return (bin, { name in tensors[name]?.floatTensor() })
        }
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: safetensors))
        return (safetensors, { name in file.entry(name) != nil ? try file.tensor(name) : nil })
    }
}

extension UNet2DBuilder {
    /// A freshly initialized U-Net (PyTorch's defaults: conv and linear weights and biases uniform in
    /// ±1/√fan_in, norms 1 and 0, embedding tables (learned time, class) N(0, 1); the Fourier
    /// projection N(0, 16²)), from Philox under `seed`.
    public static func initialized(_ config: UNet2DConfig, seed: UInt64, cpu: CPU) throws -> Graph {
        var stream: UInt64 = 0
        var fanIns: [String: Int] = [:]  // fan_in per layer; weights come before their biases
        return try build(config) { name, shape in
            defer { stream += 1 }
            let t = Tensor(zeros: shape)
            if name.hasSuffix(".weight") && shape.rank == 1 && !name.hasPrefix("time_proj") { return Tensor(shape: shape, repeating: 1) }  // norms
            if name == "time_proj.weight" || name == "class_embedding.weight" {                // Fourier [C0]; tables [rows, width]
                try cpu.fillNormal(t, seed: seed, stream: stream, std: shape.rank == 1 ? 16 : 1); return t
            }
            if name.hasSuffix(".bias") && (name.contains("norm")) { return t }
            // fan_in of the layer: weight [out, in, k, k] or [out, in]; a bias uses its weight's fan_in.
            let fanIn = name.hasSuffix(".bias") ? (fanIns[String(name.dropLast(5))] ?? 1) : shape.product(1..<shape.rank)
            if name.hasSuffix(".weight") { fanIns[String(name.dropLast(7))] = fanIn }
            let bound = 1 / Float(max(fanIn, 1)).squareRoot()
            try cpu.fillUniform(t, seed: seed, stream: stream, low: -bound, high: bound)
            return t
        }
    }
}
