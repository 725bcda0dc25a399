// LucidrainsCheckpoint: a denoising-diffusion-pytorch (lucidrains) GaussianDiffusion state dict →
// DiffusionModel. The one entry point for every container of such a state dict: a `.safetensors`
// file (what scripts/make_lucidrains_fixtures.py writes) here, a Trainer milestone
// `results/model-N.pt` through the torch.save reader's state dict. Accepted layouts of the flat
// `[String: Tensor]` (found by where the `betas` buffer sits):
//   GaussianDiffusion.state_dict()      betas, alphas_cumprod, …, loss_weight, model.<Unet key>
//   an ema-pytorch EMA's state dict     ema_model.<GaussianDiffusion key>, online_model.…, initted, step
//   a Trainer milestone, flattened      model.<GaussianDiffusion key>, ema.<EMA key>
// `weights` picks the EMA copy (`ema_model.`, the default, what the library samples from) or the
// online one. From the buffers: T = betas.count; the schedule is the lucidrains linear / cosine /
// sigmoid schedule (default arguments) that reproduces `betas` to float32 precision, else the
// betas themselves (`trained_betas`, checked against `alphas_cumprod`); the objective is the one
// whose loss weight (with or without min-SNR clipping) reproduces `loss_weight`. The sampler
// defaults are the library's: lucidrains timestep pairs, x0 clipped to ±1, ε re-derived from the
// clipped x0, DDPM over all T unless fewer steps are asked for. The image size is not in a state
// dict: the caller gives it. Not here: the Unet's architecture (LucidrainsUNetConfig) and graph
// (LucidrainsUNetBuilder); reading torch.save files.

import Foundation
import Graphs
import Tensors

/// denoising-diffusion-pytorch checkpoints.
public enum LucidrainsCheckpoint {
    /// Which copy of the network to import.
    public enum Weights: String, Sendable, CaseIterable {
        /// The EMA weights (`ema_model.`): what the library's Trainer samples and evaluates with.
        case ema
        /// The online (trained) weights.
        case model
    }

    /// The model a GaussianDiffusion state dict (in any layout above) describes.
    /// - Parameters:
    ///   - stateDict: tensor name → tensor, float32 (integer and bool buffers may be given as floats; they are not read)
    ///   - imageSize: the side S of the square images (GaussianDiffusion's `image_size`)
    ///   - weights: the EMA or the online copy
    ///   - unetConfig: Unet kwargs that shapes cannot tell, or to check (`--unet-config`)
    ///   - source: the file, for messages
    /// - Returns: graph inputs `x` `[batch, C, S, S]` float32 and `t` `[batch]` int64; the schedule with the library's sampling defaults
    public static func model(stateDict: [String: Tensor], imageSize: Int, weights: Weights = .ema,
                             unetConfig: LucidrainsUNetOverrides = .init(), source: String) throws -> DiffusionModel {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: problem) }
        guard imageSize >= 1 else { throw fail("image size \(imageSize) must be positive") }
        let prefix = try diffusionPrefix(stateDict, weights: weights, source: source)
        func buffer(_ name: String) throws -> [Float] {
            guard let t = stateDict[prefix + name] else { throw fail("GaussianDiffusion buffer '\(prefix + name)' is missing") }
            guard t.rank == 1 else { throw fail("'\(prefix + name)' has shape \(t.shape); a GaussianDiffusion buffer is [T]") }
            return t.scalars
        }
        let betas = try buffer("betas"), alphasCumprod = try buffer("alphas_cumprod"), lossWeight = try buffer("loss_weight")
        let recipm1 = try buffer("sqrt_recipm1_alphas_cumprod")
        let t = betas.count
        guard t >= 1, [alphasCumprod, lossWeight, recipm1].allSatisfy({ $0.count == t }) else {
            throw fail("GaussianDiffusion buffers disagree on T: betas \(t), alphas_cumprod \(alphasCumprod.count), loss_weight \(lossWeight.count)")
        }

        var schedule = ScheduleConfig()
        schedule.numTrainTimesteps = t
        let named = try betaSchedule(betas: betas, alphasCumprod: alphasCumprod, source: source)
        if let named { schedule.betaSchedule = named } else { schedule.trainedBetas = betas.map(Double.init) }
        let (prediction, gamma) = try objective(lossWeight: lossWeight, sqrtRecipm1AlphasCumprod: recipm1, source: source)
        schedule.predictionType = prediction
        // The library's sampling: ddim_sample's time pairs, x0 clamped to ±1, ε re-derived from it.
        schedule.clipSample = true
        schedule.clipSampleRange = 1
        schedule.timestepSpacing = .lucidrains
        schedule.setAlphaToOne = true
        schedule.stepsOffset = 0
        schedule.useClippedModelOutput = true

        let unetPrefix = prefix + "model."
        var unet: [String: Tensor] = [:]
        for (key, tensor) in stateDict where key.hasPrefix(unetPrefix) { unet[String(key.dropFirst(unetPrefix.count))] = tensor }
        let config = try LucidrainsUNetConfig.inferred(from: unet.mapValues(\.shape), overrides: unetConfig, source: source)
        var graph = try LucidrainsUNetBuilder.build(config, imageSize: imageSize, stateDict: unet, source: source)
        graph.metadata["producer"] = "denoise import (denoising-diffusion-pytorch GaussianDiffusion)"
        graph.metadata["lucidrains.unet"] = config.kwargsJSON
        graph.metadata["lucidrains.weights"] = weights.rawValue
        graph.metadata["lucidrains.objective"] = ["epsilon": "pred_noise", "sample": "pred_x0", "v_prediction": "pred_v"][prediction.rawValue]
        graph.metadata["lucidrains.beta_schedule"] = named.map { String($0.rawValue.dropFirst("lucidrains_".count)) } ?? "custom (trained_betas)"
        if let gamma { graph.metadata["lucidrains.min_snr_gamma"] = String(format: "%.6g", gamma) }
        return DiffusionModel(graph: graph, schedule: try schedule.validated(source: source), imageShape: [config.channels, imageSize, imageSize])
    }

    /// A checkpoint file: a `.safetensors` state dict in one of the layouts above, or a torch.save
    /// file (read by TorchCheckpoint, nothing executed) holding a GaussianDiffusion state dict or a
    /// Trainer milestone (`results/model-N.pt`: `model` and `ema` state dicts beside the step,
    /// optimizer and scaler state, which are not read).
    public static func load(_ path: String, imageSize: Int, weights: Weights = .ema, unetConfig: LucidrainsUNetOverrides = .init()) throws -> DiffusionModel {
        let stateDict: [String: Tensor]
        if path.hasSuffix(".safetensors") {
            stateDict = try SafeTensors.read(contentsOf: URL(fileURLWithPath: path)).tensors()
        } else {
            stateDict = try torchStateDict(TorchCheckpoint.read(path))
        }
        return try model(stateDict: stateDict, imageSize: imageSize, weights: weights, unetConfig: unetConfig, source: path)
    }

    /// The tensors of a torch.save'd checkpoint: a Trainer milestone's `model` and `ema` state
    /// dicts under those prefixes (the layout `diffusionPrefix` knows), else the whole file as one
    /// state dict.
    package static func torchStateDict(_ checkpoint: TorchCheckpoint) throws -> [String: Tensor] {
        let parts = ["model", "ema"].filter { checkpoint.root[$0]?.dict != nil }
        guard !parts.isEmpty else { return try checkpoint.stateDict() }
        var tensors: [String: Tensor] = [:]
        for part in parts { for (key, t) in try checkpoint.stateDict(at: [part]) { tensors[part + "." + key] = t } }
        return tensors
    }

    /// The key prefix of the GaussianDiffusion state dict `weights` selects.
    static func diffusionPrefix(_ stateDict: [String: Tensor], weights: Weights, source: String) throws -> String {
        let candidates: [String]
        switch weights {
        case .ema: candidates = ["ema.ema_model.", "ema_model."]
        case .model: candidates = ["model.", "", "ema.online_model.", "online_model."]
        }
        if let p = candidates.first(where: { stateDict[$0 + "betas"] != nil }) { return p }
        let found = stateDict.keys.filter { $0 == "betas" || $0.hasSuffix(".betas") }.sorted()
        if stateDict["init_conv.weight"] != nil {
            throw ModelFileError(path: source, problem: "a bare Unet state dict: without GaussianDiffusion's buffers (betas, alphas_cumprod, loss_weight) the schedule and objective are unknown")
        }
        switch weights {
        case .ema where !found.isEmpty:
            throw ModelFileError(path: source, problem: "no EMA weights (no 'ema_model.betas' or 'ema.ema_model.betas'; found \(found.joined(separator: ", "))): import the online weights with --weights model")
        case .model where !found.isEmpty:
            throw ModelFileError(path: source, problem: "no online weights (no 'betas', 'model.betas' or 'online_model.betas'; found \(found.joined(separator: ", "))): import the EMA weights with --weights ema")
        case .ema, .model:
            let sample = stateDict.keys.sorted().prefix(5).joined(separator: ", ")
            throw ModelFileError(path: source, problem: "not a denoising-diffusion-pytorch GaussianDiffusion state dict (no 'betas' buffer; keys begin \(sample))")
        }
    }

    /// The lucidrains schedule with default arguments whose betas equal `betas` to float32
    /// precision (each within 8 ulps, and ᾱ likewise), or nil; explicit betas that do not
    /// reproduce `alphasCumprod` to a relative 1e-4 are an error. (The float32 betas of a schedule
    /// the library computed in float64 give ᾱ ≈ 0 to about 1e-5 relative: 1 − β cancels when β
    /// nears 0.999.)
    static func betaSchedule(betas: [Float], alphasCumprod: [Float], source: String) throws -> BetaSchedule? {
        func close(_ a: [Double], _ b: [Float], ulps: Float) -> Bool {
            zip(a, b).allSatisfy { abs(Float($0) - $1) <= ulps * max($1.ulp, Float.leastNormalMagnitude) }
        }
        for kind in [BetaSchedule.lucidrainsLinear, .lucidrainsCosine, .lucidrainsSigmoid] {
            let table = kind.table(timesteps: betas.count)
            if close(table.betas, betas, ulps: 8), close(table.alphasCumprod, alphasCumprod, ulps: 8) { return kind }
        }
        let table = BetaTable(trainedBetas: betas.map(Double.init))
        var worst = 0.0
        for (a, b) in zip(table.alphasCumprod, alphasCumprod) { worst = max(worst, abs(a - Double(b)) / max(Double(b), 1e-30)) }
        guard worst <= 1e-4 else {
            throw ModelFileError(path: source, problem: "the betas buffer does not reproduce alphas_cumprod (relative difference up to \(worst)); is this a GaussianDiffusion?")
        }
        return nil
    }

    /// The objective (and min-SNR γ, when the weights are clipped) whose loss weight reproduces
    /// `lossWeight`: with c = the clipped SNR min(snr, γ), pred_noise weighs c/snr, pred_x0 c,
    /// pred_v c/(snr+1). snr = 1 / sqrt_recipm1_alphas_cumprod² (the buffer is float64-computed).
    static func objective(lossWeight: [Float], sqrtRecipm1AlphasCumprod recipm1: [Float], source: String) throws -> (PredictionType, Double?) {
        let snr = recipm1.map { 1 / (Double($0) * Double($0)) }
        var matches: [(PredictionType, Double?)] = []
        for prediction in [PredictionType.epsilon, .sample, .vPrediction] {
            let clipped: [Double] = zip(lossWeight, snr).map { w, s in
                switch prediction {
                case .epsilon: return Double(w) * s
                case .sample: return Double(w)
                case .vPrediction: return Double(w) * (s + 1)
                }
            }
            guard let gamma = clipped.max(), gamma > 0 else { continue }
            let fits = zip(clipped, snr).allSatisfy { c, s in abs(c - min(s, gamma)) <= 1e-5 * max(c, min(s, gamma)) }
            if fits { matches.append((prediction, snr.contains { $0 > gamma * (1 + 1e-5) } ? gamma : nil)) }
        }
        guard matches.count == 1 else {
            let shown = zip(lossWeight, snr).prefix(3).map { "\($0) (snr \(Float($1)))" }.joined(separator: ", ")
            throw ModelFileError(path: source, problem: matches.isEmpty
                ? "loss_weight matches none of pred_noise, pred_x0, pred_v (with or without min-SNR clipping): it begins \(shown)"
                : "loss_weight fits several objectives (\(matches.map(\.0.rawValue).joined(separator: ", "))); it begins \(shown)")
        }
        return matches[0]
    }
}
