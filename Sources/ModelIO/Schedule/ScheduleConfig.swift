// ScheduleConfig: the diffusion facts a model file must carry beside its network — the noise
// schedule, the number of training timesteps and what the network predicts — and the sampler
// defaults its library samples it with (timestep spacing, clipping, re-deriving the noise from the
// clipped x0, ᾱ before the first step, steps offset). Typed values (DiffusionVocabulary) stored
// under diffusers' `scheduler_config.json` key names (`use_clipped_model_output` is the name of
// diffusers' DDIM `step()` argument); the Diffusion module turns it into a schedule
// (`NoiseSchedule(config)`) and sampler defaults (`SamplerOptions(for:steps:)`).
// Sources, in order of precedence: an explicit scheduler_config.json, ONNX `metadata_props`
// keys (documented in docs/model-formats.md), else the seeds' defaults (linear 1e-4…0.02 over
// 1000 steps, epsilon; diffusers' DDIM defaults for the sampler keys).
// Encoded by hand (`encode(to:)`): the keys of native format version 2 always, the later ones
// (`laterKeys`) only when they differ from their defaults, so a file that does not need them
// stays readable by builds that predate them.

import Foundation

/// Noise schedule and prediction type of a diffusion model.
public struct ScheduleConfig: Codable, Sendable, Equatable {
    /// Training timesteps T: the network is trained on t ∈ 0..<T.
    public var numTrainTimesteps: Int = 1000
    public var betaSchedule: BetaSchedule = .linear
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var predictionType: PredictionType = .epsilon
    /// Clip the predicted x0 to ±`clipSampleRange` when sampling.
    public var clipSample: Bool = true
    public var clipSampleRange: Double = 1
    /// Explicit β_t, t = 0..<T (diffusers' `trained_betas`): when set, the schedule is these betas
    /// and `beta_schedule`, `beta_start`, `beta_end` are not used; its count must equal T.
    public var trainedBetas: [Double]? = nil
    /// How samplers spread their steps over the T training timesteps by default.
    public var timestepSpacing: TimestepSpacing = .leading
    /// Added to every leading-spaced timestep (diffusers' `steps_offset`).
    public var stepsOffset: Int = 0
    /// DDIM: ᾱ before the first training step is 1 (else ᾱ_0).
    public var setAlphaToOne: Bool = true
    /// DDIM: re-derive ε from the clipped x0 (diffusers' `step(use_clipped_model_output=True)`;
    /// denoising-diffusion-pytorch always does).
    public var useClippedModelOutput: Bool = false
    /// DDIM's η by default (0: the deterministic ODE; 1: ancestral noise like DDPM), for a model
    /// that samples better with noise (denoise's key; diffusers passes `eta` to its pipeline call).
    public var eta: Double = 0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case numTrainTimesteps = "num_train_timesteps", betaSchedule = "beta_schedule", betaStart = "beta_start"
        case betaEnd = "beta_end", predictionType = "prediction_type", clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range", trainedBetas = "trained_betas", timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset", setAlphaToOne = "set_alpha_to_one", useClippedModelOutput = "use_clipped_model_output"
        case eta
    }

    /// Missing keys keep their defaults (diffusers configs list only what differs from a class's).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ScheduleConfig()
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? d.numTrainTimesteps
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule).map(BetaSchedule.parse) ?? d.betaSchedule
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? d.betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? d.betaEnd
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType).map(PredictionType.parse) ?? d.predictionType
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample) ?? d.clipSample
        clipSampleRange = try c.decodeIfPresent(Double.self, forKey: .clipSampleRange) ?? d.clipSampleRange
        trainedBetas = try c.decodeIfPresent([Double].self, forKey: .trainedBetas)
        timestepSpacing = try c.decodeIfPresent(String.self, forKey: .timestepSpacing).map(TimestepSpacing.parse) ?? d.timestepSpacing
        stepsOffset = try c.decodeIfPresent(Int.self, forKey: .stepsOffset) ?? d.stepsOffset
        setAlphaToOne = try c.decodeIfPresent(Bool.self, forKey: .setAlphaToOne) ?? d.setAlphaToOne
        useClippedModelOutput = try c.decodeIfPresent(Bool.self, forKey: .useClippedModelOutput) ?? d.useClippedModelOutput
        eta = try c.decodeIfPresent(Double.self, forKey: .eta) ?? d.eta
    }

    /// The keys added after native format version 2 whose values differ from their defaults
    /// (a file with any of them is written as format version 3).
    public var laterKeys: [String] {
        let d = ScheduleConfig()
        var keys: [CodingKeys] = []
        if trainedBetas != nil { keys.append(.trainedBetas) }
        if timestepSpacing != d.timestepSpacing { keys.append(.timestepSpacing) }
        if stepsOffset != d.stepsOffset { keys.append(.stepsOffset) }
        if setAlphaToOne != d.setAlphaToOne { keys.append(.setAlphaToOne) }
        if useClippedModelOutput != d.useClippedModelOutput { keys.append(.useClippedModelOutput) }
        if eta != d.eta { keys.append(.eta) }
        return keys.map(\.rawValue)
    }

    /// The version-2 keys always, the later ones when they differ from their defaults.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(numTrainTimesteps, forKey: .numTrainTimesteps)
        try c.encode(betaSchedule.rawValue, forKey: .betaSchedule)
        try c.encode(betaStart, forKey: .betaStart)
        try c.encode(betaEnd, forKey: .betaEnd)
        try c.encode(predictionType.rawValue, forKey: .predictionType)
        try c.encode(clipSample, forKey: .clipSample)
        try c.encode(clipSampleRange, forKey: .clipSampleRange)
        let later = Set(laterKeys)
        if let trainedBetas { try c.encode(trainedBetas, forKey: .trainedBetas) }
        if later.contains(CodingKeys.timestepSpacing.rawValue) { try c.encode(timestepSpacing.rawValue, forKey: .timestepSpacing) }
        if later.contains(CodingKeys.stepsOffset.rawValue) { try c.encode(stepsOffset, forKey: .stepsOffset) }
        if later.contains(CodingKeys.setAlphaToOne.rawValue) { try c.encode(setAlphaToOne, forKey: .setAlphaToOne) }
        if later.contains(CodingKeys.useClippedModelOutput.rawValue) { try c.encode(useClippedModelOutput, forKey: .useClippedModelOutput) }
        if later.contains(CodingKeys.eta.rawValue) { try c.encode(eta, forKey: .eta) }
    }

    /// Checks the values; the error names the file the config came from.
    public func validated(source: String) throws -> ScheduleConfig {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: "schedule: \(problem)") }
        guard numTrainTimesteps >= 1 && numTrainTimesteps <= 100_000 else { throw fail("num_train_timesteps \(numTrainTimesteps) must be 1…100000") }
        guard betaStart > 0, betaEnd > 0, betaStart < 1, betaEnd < 1 else { throw fail("beta_start \(betaStart) and beta_end \(betaEnd) must lie in (0, 1)") }
        guard clipSampleRange > 0 else { throw fail("clip_sample_range must be positive") }
        if let trainedBetas {
            guard trainedBetas.count == numTrainTimesteps else {
                throw fail("trained_betas has \(trainedBetas.count) values; num_train_timesteps is \(numTrainTimesteps)")
            }
            if let bad = trainedBetas.firstIndex(where: { !($0 >= 0 && $0 < 1) }) {
                throw fail("trained_betas[\(bad)] = \(trainedBetas[bad]) must lie in [0, 1)")
            }
        }
        guard eta >= 0 && eta <= 1 else { throw fail("eta \(eta) must lie in [0, 1]") }
        guard stepsOffset >= 0 && stepsOffset < numTrainTimesteps else {
            throw fail("steps_offset \(stepsOffset) must be 0…\(numTrainTimesteps - 1)")
        }
        return self
    }

    /// Reads a diffusers `scheduler_config.json`.
    public static func read(_ path: String) throws -> ScheduleConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read the scheduler config")
        }
        do { return try JSONDecoder().decode(ScheduleConfig.self, from: data).validated(source: path) } catch let e as ModelFileError {
            throw e
        } catch let e as VocabularyError {
            throw ModelFileError(path: path, problem: "schedule: \(e)")
        } catch {
            throw ModelFileError(path: path, problem: "not a valid scheduler config: \(error)")
        }
    }

    /// The `metadata_props` keys an ONNX file may carry (each optional): `denoise.` + a config key.
    public static let metadataKeys = CodingKeys.allCases.map { "denoise." + $0.rawValue }

    /// The config as ONNX metadata keys (the inverse of `from(metadata:source:)`): the version-2
    /// keys always, the later ones when they differ from their defaults. `trained_betas` is a JSON
    /// array of numbers.
    public var metadata: [String: String] {
        var m = ["denoise.num_train_timesteps": "\(numTrainTimesteps)", "denoise.beta_schedule": betaSchedule.rawValue,
                 "denoise.beta_start": "\(betaStart)", "denoise.beta_end": "\(betaEnd)", "denoise.prediction_type": predictionType.rawValue,
                 "denoise.clip_sample": clipSample ? "true" : "false"]
        if clipSampleRange != 1 { m["denoise.clip_sample_range"] = "\(clipSampleRange)" }
        let later = Set(laterKeys)
        if let trainedBetas { m["denoise.trained_betas"] = "[" + trainedBetas.map { "\($0)" }.joined(separator: ", ") + "]" }
        if later.contains("timestep_spacing") { m["denoise.timestep_spacing"] = timestepSpacing.rawValue }
        if later.contains("steps_offset") { m["denoise.steps_offset"] = "\(stepsOffset)" }
        if later.contains("set_alpha_to_one") { m["denoise.set_alpha_to_one"] = setAlphaToOne ? "true" : "false" }
        if later.contains("use_clipped_model_output") { m["denoise.use_clipped_model_output"] = useClippedModelOutput ? "true" : "false" }
        if later.contains("eta") { m["denoise.eta"] = "\(eta)" }
        return m
    }

    /// A config from ONNX metadata keys (`denoise.<diffusers key>`), defaults for absent keys.
    public static func from(metadata: [String: String], source: String) throws -> ScheduleConfig {
        var c = ScheduleConfig()
        func number(_ key: String) throws -> Double? {
            guard let text = metadata["denoise." + key] else { return nil }
            guard let v = Double(text) else { throw ModelFileError(path: source, problem: "metadata denoise.\(key) = '\(text)' is not a number") }
            return v
        }
        func integer(_ key: String) throws -> Int? {
            guard let text = metadata["denoise." + key] else { return nil }
            guard let v = Int(text) else { throw ModelFileError(path: source, problem: "metadata denoise.\(key) = '\(text)' is not an integer") }
            return v
        }
        func flag(_ key: String) throws -> Bool? {
            guard let text = metadata["denoise." + key] else { return nil }
            if ["1", "true", "True"].contains(text) { return true }
            if ["0", "false", "False"].contains(text) { return false }
            throw ModelFileError(path: source, problem: "metadata denoise.\(key) = '\(text)' is not true or false")
        }
        if let v = try number("num_train_timesteps") {
            // Int(v) traps beyond Int's range (and on inf, nan): refuse what no schedule has.
            guard v.isFinite, abs(v) <= 1e15 else {
                throw ModelFileError(path: source, problem: "metadata denoise.num_train_timesteps = '\(metadata["denoise.num_train_timesteps"] ?? "")' is not a timestep count")
            }
            c.numTrainTimesteps = Int(v)
        }
        if let v = try number("beta_start") { c.betaStart = v }
        if let v = try number("beta_end") { c.betaEnd = v }
        if let v = try number("clip_sample_range") { c.clipSampleRange = v }
        if let v = try number("eta") { c.eta = v }
        if let v = try integer("steps_offset") { c.stepsOffset = v }
        if let v = try flag("set_alpha_to_one") { c.setAlphaToOne = v }
        if let v = try flag("use_clipped_model_output") { c.useClippedModelOutput = v }
        do {
            if let v = metadata["denoise.beta_schedule"] { c.betaSchedule = try BetaSchedule.parse(v) }
            if let v = metadata["denoise.prediction_type"] { c.predictionType = try PredictionType.parse(v) }
            if let v = metadata["denoise.timestep_spacing"] { c.timestepSpacing = try TimestepSpacing.parse(v) }
        } catch {
            throw ModelFileError(path: source, problem: "metadata denoise.\(error)")
        }
        if let text = metadata["denoise.trained_betas"] {
            let inner = text.trimmingCharacters(in: .whitespaces)
            guard inner.hasPrefix("["), inner.hasSuffix("]") else {
                throw ModelFileError(path: source, problem: "metadata denoise.trained_betas must be a JSON array of numbers, got '\(text.prefix(40))…'")
            }
            c.trainedBetas = try inner.dropFirst().dropLast().split(separator: ",").enumerated().map { i, item in
                guard let v = Double(item.trimmingCharacters(in: .whitespaces)) else {
                    throw ModelFileError(path: source, problem: "metadata denoise.trained_betas item \(i) '\(item)' is not a number")
                }
                return v
            }
        }
        // The old reader's lenient clip_sample ("anything else is false") is kept for files that relied on it.
        if let v = metadata["denoise.clip_sample"] { c.clipSample = ["1", "true", "True"].contains(v) }
        return try c.validated(source: source)
    }
}
