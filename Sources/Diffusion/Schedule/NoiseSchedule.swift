// NoiseSchedule: β_t and ᾱ_t = Π(1 − β_s) for t = 0..<T, the values every sampler and the trainer
// read. The tables themselves — diffusers' and denoising-diffusion-pytorch's schedules, each in its
// library's precision, and explicit `trained_betas` — are computed by ModelIO's BetaTable (importers
// need them to recognise a checkpoint's schedule); this is the one place a model's ScheduleConfig
// becomes a schedule.

import Foundation
import ModelIO

/// β_t and ᾱ_t of a diffusion process with T training timesteps.
public struct NoiseSchedule: Sendable, Equatable {
    /// The named schedule, or nil for explicit betas (`trained_betas`).
    public let kind: BetaSchedule?
    /// β_t, t = 0..<T.
    public let betas: [Double]
    /// ᾱ_t = Π_{s ≤ t} (1 − β_s), t = 0..<T, as the library stores it.
    public let alphasCumprod: [Double]

    public var trainingTimesteps: Int { betas.count }

    /// The schedule `kind` over `timesteps` steps; `betaStart`/`betaEnd` apply to diffusers' linear,
    /// scaled_linear and sigmoid schedules.
    public init(_ kind: BetaSchedule, timesteps: Int, betaStart: Double = 0.0001, betaEnd: Double = 0.02) {
        precondition(timesteps >= 1, "NoiseSchedule: timesteps must be ≥ 1")
        self.kind = kind
        let table = kind.table(timesteps: timesteps, betaStart: betaStart, betaEnd: betaEnd)
        (betas, alphasCumprod) = (table.betas, table.alphasCumprod)
    }

    /// Explicit betas (ᾱ: float64 cumulative product stored as float32, as denoising-diffusion-pytorch).
    public init(trainedBetas: [Double]) {
        precondition(!trainedBetas.isEmpty, "NoiseSchedule: trained betas must not be empty")
        kind = nil
        let table = BetaTable(trainedBetas: trainedBetas)
        (betas, alphasCumprod) = (table.betas, table.alphasCumprod)
    }
}

extension NoiseSchedule {
    /// The schedule a model's config names (its `trained_betas` when present): the one place a
    /// config becomes a schedule.
    public init(_ config: ScheduleConfig) {
        if let trained = config.trainedBetas { self.init(trainedBetas: trained); return }
        self.init(config.betaSchedule, timesteps: config.numTrainTimesteps, betaStart: config.betaStart, betaEnd: config.betaEnd)
    }
}
