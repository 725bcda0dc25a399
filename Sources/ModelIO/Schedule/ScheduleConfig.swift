// ScheduleConfig: the diffusion facts a model file must carry beside its network — the noise
// schedule, the number of training timesteps and what the network predicts. Typed values
// (DiffusionVocabulary) stored under diffusers' `scheduler_config.json` key names; the Diffusion
// module turns it into a schedule (`NoiseSchedule(config)`) and sampler defaults.
// Sources, in order of precedence: an explicit scheduler_config.json, ONNX `metadata_props`
// keys (documented in docs/model-formats.md), else the seeds' defaults (linear 1e-4…0.02 over
// 1000 steps, epsilon).

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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case numTrainTimesteps = "num_train_timesteps", betaSchedule = "beta_schedule", betaStart = "beta_start"
        case betaEnd = "beta_end", predictionType = "prediction_type", clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
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
    }

    /// Checks the values; the error names the file the config came from.
    public func validated(source: String) throws -> ScheduleConfig {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: "schedule: \(problem)") }
        guard numTrainTimesteps >= 1 && numTrainTimesteps <= 100_000 else { throw fail("num_train_timesteps \(numTrainTimesteps) must be 1…100000") }
        guard betaStart > 0, betaEnd > 0, betaStart < 1, betaEnd < 1 else { throw fail("beta_start \(betaStart) and beta_end \(betaEnd) must lie in (0, 1)") }
        guard clipSampleRange > 0 else { throw fail("clip_sample_range must be positive") }
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

    /// The `metadata_props` keys an ONNX file may carry (each optional).
    public static let metadataKeys = ["denoise.num_train_timesteps", "denoise.beta_schedule", "denoise.beta_start",
                                      "denoise.beta_end", "denoise.prediction_type", "denoise.clip_sample"]

    /// The config as ONNX metadata keys (the inverse of `from(metadata:source:)`).
    public var metadata: [String: String] {
        ["denoise.num_train_timesteps": "\(numTrainTimesteps)", "denoise.beta_schedule": betaSchedule.rawValue,
         "denoise.beta_start": "\(betaStart)", "denoise.beta_end": "\(betaEnd)", "denoise.prediction_type": predictionType.rawValue,
         "denoise.clip_sample": clipSample ? "true" : "false"]
    }

    /// A config from ONNX metadata keys (`denoise.<diffusers key>`), defaults for absent keys.
    public static func from(metadata: [String: String], source: String) throws -> ScheduleConfig {
        var c = ScheduleConfig()
        func number(_ key: String) throws -> Double? {
            guard let text = metadata["denoise." + key] else { return nil }
            guard let v = Double(text) else { throw ModelFileError(path: source, problem: "metadata denoise.\(key) = '\(text)' is not a number") }
            return v
        }
        if let v = try number("num_train_timesteps") { c.numTrainTimesteps = Int(v) }
        if let v = try number("beta_start") { c.betaStart = v }
        if let v = try number("beta_end") { c.betaEnd = v }
        do {
            if let v = metadata["denoise.beta_schedule"] { c.betaSchedule = try BetaSchedule.parse(v) }
            if let v = metadata["denoise.prediction_type"] { c.predictionType = try PredictionType.parse(v) }
        } catch {
            throw ModelFileError(path: source, problem: "metadata denoise.\(error)")
        }
        if let v = metadata["denoise.clip_sample"] { c.clipSample = ["1", "true", "True"].contains(v) }
        return try c.validated(source: source)
    }
}
