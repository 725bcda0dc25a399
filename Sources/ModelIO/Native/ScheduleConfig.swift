// ScheduleConfig: the diffusion facts a model file must carry beside its network — the noise
// schedule, the number of training timesteps and what the network predicts. Plain data with
// diffusers' `scheduler_config.json` key names; the Diffusion module turns it into a schedule.
// Sources, in order of precedence: an explicit scheduler_config.json, ONNX `metadata_props`
// keys (documented in docs/model-formats.md), else the seeds' defaults (linear 1e-4…0.02 over
// 1000 steps, epsilon).

import Foundation

/// Noise schedule and prediction type of a diffusion model.
public struct ScheduleConfig: Codable, Sendable, Equatable {
    /// Training timesteps T: the network is trained on t ∈ 0..<T.
    public var numTrainTimesteps: Int = 1000
    /// diffusers' `linear`, `scaled_linear`, `squaredcos_cap_v2` (cosine), `sigmoid`, or
    /// denoising-diffusion-pytorch's `lucidrains_linear` (rescaled by 1000/T), `lucidrains_cosine`,
    /// `lucidrains_sigmoid`.
    public var betaSchedule: String = "linear"
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    /// `epsilon`, `sample` or `v_prediction`.
    public var predictionType: String = "epsilon"
    /// Clip the predicted x0 to ±`clipSampleRange` when sampling.
    public var clipSample: Bool = true
    public var clipSampleRange: Double = 1

    public static let betaSchedules: Set<String> = ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid",
                                                    "lucidrains_linear", "lucidrains_cosine", "lucidrains_sigmoid"]
    public static let predictionTypes: Set<String> = ["epsilon", "sample", "v_prediction"]

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
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule) ?? d.betaSchedule
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? d.betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? d.betaEnd
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType) ?? d.predictionType
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample) ?? d.clipSample
        clipSampleRange = try c.decodeIfPresent(Double.self, forKey: .clipSampleRange) ?? d.clipSampleRange
    }

    /// Checks the values; the error names the file the config came from.
    public func validated(source: String) throws -> ScheduleConfig {
        func fail(_ problem: String) -> ModelFileError { ModelFileError(path: source, problem: "schedule: \(problem)") }
        guard numTrainTimesteps >= 1 && numTrainTimesteps <= 100_000 else { throw fail("num_train_timesteps \(numTrainTimesteps) must be 1…100000") }
        guard Self.betaSchedules.contains(betaSchedule) else { throw fail("beta_schedule '\(betaSchedule)' is not one of \(Self.betaSchedules.sorted())") }
        guard Self.predictionTypes.contains(predictionType) else { throw fail("prediction_type '\(predictionType)' is not one of \(Self.predictionTypes.sorted())") }
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
        } catch {
            throw ModelFileError(path: path, problem: "not a valid scheduler config: \(error)")
        }
    }

    /// The `metadata_props` keys an ONNX file may carry (each optional).
    public static let metadataKeys = ["denoise.num_train_timesteps", "denoise.beta_schedule", "denoise.beta_start",
                                      "denoise.beta_end", "denoise.prediction_type", "denoise.clip_sample"]

    /// The config as ONNX metadata keys (the inverse of `from(metadata:source:)`).
    public var metadata: [String: String] {
        ["denoise.num_train_timesteps": "\(numTrainTimesteps)", "denoise.beta_schedule": betaSchedule,
         "denoise.beta_start": "\(betaStart)", "denoise.beta_end": "\(betaEnd)", "denoise.prediction_type": predictionType,
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
        if let v = metadata["denoise.beta_schedule"] { c.betaSchedule = v }
        if let v = metadata["denoise.prediction_type"] { c.predictionType = v }
        if let v = metadata["denoise.clip_sample"] { c.clipSample = ["1", "true", "True"].contains(v) }
        return try c.validated(source: source)
    }
}
