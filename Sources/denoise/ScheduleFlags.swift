// The noise-schedule flags shared by generate, serve, train and import: a diffusers
// scheduler_config.json and single-key overrides on top of it; and the sampler-default flags
// (generate, serve, import) that set the schedule's sampling keys.

import ArgumentParser
import ModelIO

struct ScheduleFlags: ParsableArguments {
    @Option(help: "A diffusers scheduler_config.json giving the noise schedule.")
    var schedulerConfig: String?

    @Option(help: "Beta schedule (\(BetaSchedule.names.joined(separator: ", "))).", transform: { try BetaSchedule.parse($0) })
    var betaSchedule: BetaSchedule?

    @Option(help: "Number of training timesteps T.")
    var numTrainTimesteps: Int?

    @Option(help: "Prediction type (\(PredictionType.names.joined(separator: ", "))).", transform: { try PredictionType.parse($0) })
    var predictionType: PredictionType?

    /// `base` with the scheduler config file (if any) replacing it, then each flag given.
    func applied(to base: ScheduleConfig) throws -> ScheduleConfig {
        var s = try schedulerConfig.map(ScheduleConfig.read) ?? base
        if let betaSchedule { s.betaSchedule = betaSchedule }
        if let numTrainTimesteps { s.numTrainTimesteps = numTrainTimesteps }
        if let predictionType { s.predictionType = predictionType }
        return try s.validated(source: "the schedule flags")
    }
}

/// The sampler defaults a model's schedule carries (generate, serve, import): each flag given
/// replaces the model's `timestep_spacing`, `clip_sample`, `use_clipped_model_output` or `eta`.
struct SamplingFlags: ParsableArguments {
    @Option(help: "DDIM's eta: 0 deterministic, 1 ancestral noise as DDPM (default: the model's eta, 0 unless its schedule says otherwise).")
    var eta: Double?

    @Option(help: "Timestep spacing (\(TimestepSpacing.names.joined(separator: ", "))); default: the model's (leading unless its scheduler config says otherwise).",
            transform: { try TimestepSpacing.parse($0) })
    var timestepSpacing: TimestepSpacing?

    @Flag(inversion: .prefixedNo, help: "Clip the predicted x0 to ±clip_sample_range (default: the model's clip_sample).")
    var clipSample: Bool?

    @Flag(inversion: .prefixedNo, help: "DDIM: re-derive the noise from the clipped x0, as denoising-diffusion-pytorch does (default: the model's use_clipped_model_output).")
    var rederiveNoise: Bool?

    func validate() throws {
        if let eta, !(eta >= 0 && eta <= 1) { throw ValidationError("--eta must be in [0, 1], got \(eta)") }
    }

    /// `base` with each flag given.
    func applied(to base: ScheduleConfig) -> ScheduleConfig {
        var s = base
        if let eta { s.eta = eta }
        if let timestepSpacing { s.timestepSpacing = timestepSpacing }
        if let clipSample { s.clipSample = clipSample }
        if let rederiveNoise { s.useClippedModelOutput = rederiveNoise }
        return s
    }
}
