// DiffusersFolder: a diffusers UNet2DModel as saved by `save_pretrained` — `config.json` and
// `diffusion_pytorch_model.safetensors` — or a pipeline folder holding it in `unet/` with the
// schedule in `scheduler/scheduler_config.json`. Builds the built-in U-Net graph (UNet2DBuilder)
// over the file's weights. Older checkpoints name attention weights query/key/value/proj_attn;
// they are read under those names when the current to_q/to_k/to_v/to_out.0 are absent.

import Foundation
import Graphs
import Tensors

public enum DiffusersFolder {
    /// Whether `folder` looks like a diffusers UNet or pipeline folder.
    public static func isDiffusers(_ folder: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: folder + "/diffusion_pytorch_model.safetensors") || fm.fileExists(atPath: folder + "/unet/config.json")
    }

    /// Loads the model; the schedule comes from `scheduleConfig`, the pipeline's scheduler folder, or the defaults.
    public static func load(_ folder: String, scheduleConfig: String? = nil) throws -> NativeModel {
        let unet = FileManager.default.fileExists(atPath: folder + "/unet/config.json") ? folder + "/unet" : folder
        let configPath = unet + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ModelFileError(path: configPath, problem: "cannot read config.json") }
        let config: UNet2DConfig
        do { config = try JSONDecoder().decode(UNet2DConfig.self, from: data).validated(source: configPath) } catch let e as ModelFileError {
            throw e
        } catch {
            throw ModelFileError(path: configPath, problem: "not a valid UNet2DModel config: \(error)")
        }
        let weightsPath = unet + "/diffusion_pytorch_model.safetensors"
        let file = try SafeTensors.read(contentsOf: URL(fileURLWithPath: weightsPath))
        let legacy = [".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."]
        let graph = try UNet2DBuilder.build(config) { name in
            if file.entry(name) != nil { return try file.tensor(name) }
            for (new, old) in legacy where name.contains(new) {
                let oldName = name.replacingOccurrences(of: new, with: old)
                if file.entry(oldName) != nil { return try file.tensor(oldName) }
            }
            throw ModelFileError(path: weightsPath, problem: "parameter '\(name)' that config.json implies is missing")
        }
        var schedule = ScheduleConfig()
        let pipelineScheduler = folder + "/scheduler/scheduler_config.json"
        if let scheduleConfig { schedule = try ScheduleConfig.read(scheduleConfig) }
        else if FileManager.default.fileExists(atPath: pipelineScheduler) { schedule = try ScheduleConfig.read(pipelineScheduler) }
        return NativeModel(graph: graph, schedule: schedule, imageShape: [config.inChannels, config.sampleSize, config.sampleSize])
    }
}
