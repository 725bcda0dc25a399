// denoise import: converts a model (ONNX file, diffusers folder, denoising-diffusion-pytorch
// checkpoint, or a native folder of an older format version) to a native model folder in the
// current format version. The checkpoint → model logic is ModelIO's (LucidrainsCheckpoint).

import ArgumentParser
import Foundation
import ModelIO

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a model (ONNX file, diffusers or native folder, denoising-diffusion-pytorch checkpoint) into a native model folder (model.json + weights.safetensors).",
        discussion: """
            A native folder (e.g. one of an older format version) is rewritten in the current format version \
            (\(NativeFormat.version), or 2 when the schedule needs nothing newer): a new model.json, weights.safetensors copied byte for byte. \
            A denoising-diffusion-pytorch checkpoint — the Trainer's results/model-N.pt (read without Python; nothing in it is executed), \
            or a GaussianDiffusion state dict (.pt/.pth, or .safetensors: GaussianDiffusion.state_dict(), an EMA's, \
            or a Trainer milestone flattened to model.* / ema.*) — needs --image-size; the Unet is rebuilt from the tensors' shapes, \
            the schedule and objective from its buffers, and sampling defaults to the library's (see docs/model-formats.md). \
            Otherwise the schedule comes from --scheduler-config (a diffusers scheduler_config.json) and the schedule flags, else from the \
            model (a native or diffusers folder's own, or the ONNX metadata_props keys denoise.<scheduler_config key>), \
            else the defaults (linear betas 1e-4…0.02, 1000 timesteps, epsilon prediction).
            """)

    @Argument(help: "The model: an ONNX file, a diffusers folder, a native folder (any format version denoise reads), or a denoising-diffusion-pytorch checkpoint (a Trainer's results/model-N.pt, or a state dict as .pt, .pth or .safetensors).")
    var model: String

    @Option(help: "Output folder (created; its model.json and weights.safetensors are replaced).")
    var out: String

    @OptionGroup(title: "Noise schedule")
    var schedule: ScheduleFlags

    @OptionGroup(title: "Sampler defaults")
    var sampling: SamplingFlags

    @OptionGroup(title: "denoising-diffusion-pytorch checkpoints")
    var lucidrains: LucidrainsFlags

    func run() throws {
        let diffusionModel: DiffusionModel
        if let version = try DiffusionModel.storedFormatVersion(model) {
            diffusionModel = try DiffusionModel.rewrite(model, to: out) { sampling.applied(to: try schedule.applied(to: $0)) }
            print("\(model): native format version \(version) → \(out): format version \(NativeFormat.version(for: diffusionModel.schedule, classes: diffusionModel.classes)) "
                  + "(model.json rewritten; weights.safetensors unchanged)")
        } else {
            var opened = try lucidrains.checkpoint(model) ?? ModelLoader.open(model)
            opened.schedule = sampling.applied(to: try schedule.applied(to: opened.schedule))
            try opened.write(to: out)
            diffusionModel = opened
        }
        let s = diffusionModel.schedule
        let betas = s.trainedBetas.map { "trained betas \($0.first ?? 0)…\($0.last ?? 0)" } ?? "\(s.betaSchedule.rawValue) \(s.betaStart)…\(s.betaEnd)"
        print("wrote \(out): \(diffusionModel.graph.nodes.count) nodes, \(diffusionModel.graph.parameterCount) parameters, image \(diffusionModel.imageShape), "
              + "schedule \(betas) over \(s.numTrainTimesteps) steps, \(s.predictionType.rawValue)")
    }
}

/// How a denoising-diffusion-pytorch checkpoint is imported.
struct LucidrainsFlags: ParsableArguments {
    @Option(help: "Image side S (GaussianDiffusion's image_size; a state dict does not store it). Required for a checkpoint.")
    var imageSize: Int?

    @Option(help: "Which weights of a checkpoint: ema (the default: what the library samples with) or model (the online weights).",
            transform: { text in
                guard let w = LucidrainsCheckpoint.Weights(rawValue: text) else { throw ValidationError("--weights must be ema or model, got '\(text)'") }
                return w
            })
    var weights: LucidrainsCheckpoint.Weights = .ema

    @Option(help: "The Unet's constructor kwargs as a JSON object or a .json file, e.g. '{\"sinusoidal_pos_emb_theta\": 1000}': what the state dict's shapes cannot tell; the rest are checked against them.")
    var unetConfig: String?

    func validate() throws {
        if let imageSize, imageSize < 1 { throw ValidationError("--image-size must be positive, got \(imageSize)") }
    }

    /// The checkpoint at `path` as a model, or nil when `path` is not a checkpoint.
    func checkpoint(_ path: String) throws -> DiffusionModel? {
        guard path.hasSuffix(".safetensors") || path.hasSuffix(".pt") || path.hasSuffix(".pth") else {
            if imageSize != nil || unetConfig != nil { throw ValidationError("--image-size and --unet-config apply to denoising-diffusion-pytorch checkpoints (.pt, .pth, .safetensors); \(path) is not one") }
            return nil
        }
        guard let imageSize else { throw ValidationError("\(path): --image-size S is required (a denoising-diffusion-pytorch state dict does not store the image size)") }
        let overrides = try unetConfig.map(LucidrainsUNetOverrides.read) ?? LucidrainsUNetOverrides()
        return try LucidrainsCheckpoint.load(path, imageSize: imageSize, weights: weights, unetConfig: overrides)
    }
}
