// DiffusionVocabulary: the typed names every module uses for what a diffusion model was trained
// with — the β schedule and what the network predicts — and for how its sampler spaces timesteps.
// Their raw values are the strings of diffusers' `scheduler_config.json` (and denoising-diffusion-
// pytorch's schedules and spacing, prefixed or named `lucidrains`); they are part of every file
// format that stores a schedule, so they never change.
// Parsing a string is one function per type whose error names the value and the accepted ones.

/// A name outside a vocabulary: says which key, what was given and what is accepted.
public struct VocabularyError: Error, CustomStringConvertible, Sendable, Equatable {
    public let key: String
    public let value: String
    public let accepted: [String]
    public var description: String { "\(key) '\(value)' is not one of \(accepted.joined(separator: ", "))" }

    public init(key: String, value: String, accepted: [String]) {
        (self.key, self.value, self.accepted) = (key, value, accepted)
    }
}

/// A string-named vocabulary: parse with an error naming the value and the accepted names.
public protocol DiffusionVocabulary: RawRepresentable<String>, CaseIterable, Sendable {
    /// The configuration key it is stored under (`beta_schedule`, `prediction_type`).
    static var key: String { get }
}

extension DiffusionVocabulary {
    /// Every accepted name, in declaration order.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// The case named `text`, or an error naming it and the accepted names.
    public static func parse(_ text: String) throws(VocabularyError) -> Self {
        guard let value = Self(rawValue: text) else { throw VocabularyError(key: key, value: text, accepted: names) }
        return value
    }
}

/// Which β schedule a model was trained with.
public enum BetaSchedule: String, DiffusionVocabulary, Codable {
    case linear, scaledLinear = "scaled_linear", cosine = "squaredcos_cap_v2", sigmoid
    case lucidrainsLinear = "lucidrains_linear", lucidrainsCosine = "lucidrains_cosine", lucidrainsSigmoid = "lucidrains_sigmoid"
    public static let key = "beta_schedule"
}

/// What the network predicts.
public enum PredictionType: String, DiffusionVocabulary, Codable {
    case epsilon, sample, vPrediction = "v_prediction"
    public static let key = "prediction_type"
}

/// How a sampler spreads S steps over T training timesteps (diffusers' `timestep_spacing`, plus
/// denoising-diffusion-pytorch's `lucidrains`; the formulas are in Diffusion's Timesteps.swift).
public enum TimestepSpacing: String, DiffusionVocabulary, Codable {
    case leading, trailing, linspace, lucidrains
    public static let key = "timestep_spacing"
}
