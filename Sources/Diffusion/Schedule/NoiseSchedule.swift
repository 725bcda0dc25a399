// NoiseSchedule: β_t and ᾱ_t = Π(1 − β_s) for t = 0..<T, for every schedule users' checkpoints
// were trained with: diffusers' linear, scaled_linear, squaredcos_cap_v2 (cosine) and sigmoid,
// and denoising-diffusion-pytorch's linear (rescaled by 1000/T), cosine and sigmoid. Each is
// computed in the precision its library uses — diffusers in float32 (torch.linspace's two-ended
// formula, cumulative product in float32), lucidrains in float64 with ᾱ stored as float32 — so
// the values agree with theirs to the last bits (checked against fixtures of both libraries).

import Foundation
import ModelIO

/// β_t and ᾱ_t of a diffusion process with T training timesteps.
public struct NoiseSchedule: Sendable, Equatable {
    public let kind: BetaSchedule
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
        let t = timesteps
        switch kind {
        case .linear, .scaledLinear, .sigmoid:
            var b: [Float]
            switch kind {
            case .linear: b = torchLinspace(Float(betaStart), Float(betaEnd), t)
            case .scaledLinear: b = torchLinspace(Float(betaStart).squareRoot(), Float(betaEnd).squareRoot(), t).map { $0 * $0 }
            default:
                let (lo, span) = (Float(betaStart), Float(betaEnd) - Float(betaStart))
                b = torchLinspace(-6, 6, t).map { 1 / (1 + Foundation.exp(-$0)) * span + lo }
            }
            var acc: Float = 1
            alphasCumprod = b.map { acc *= 1 - $0; return Double(acc) }
            betas = b.map(Double.init)
        case .cosine:
            // diffusers' betas_for_alpha_bar: python floats, then a float32 tensor.
            func alphaBar(_ x: Double) -> Double { let c = Foundation.cos((x + 0.008) / 1.008 * Double.pi / 2); return c * c }
            let b = (0..<t).map { i in Float(min(1 - alphaBar(Double(i + 1) / Double(t)) / alphaBar(Double(i) / Double(t)), 0.999)) }
            var acc: Float = 1
            alphasCumprod = b.map { acc *= 1 - $0; return Double(acc) }
            betas = b.map(Double.init)
        case .lucidrainsLinear, .lucidrainsCosine, .lucidrainsSigmoid:
            let b: [Double]
            switch kind {
            case .lucidrainsLinear:
                let scale = 1000 / Double(t)
                b = float64Linspace(scale * 0.0001, scale * 0.02, t)
            case .lucidrainsCosine:
                let s = 0.008
                let ac = float64Linspace(0, Double(t), t + 1).map { x -> Double in
                    let c = Foundation.cos((x / Double(t) + s) / (1 + s) * Double.pi * 0.5); return c * c
                }
                b = (0..<t).map { min(max(1 - (ac[$0 + 1] / ac[0]) / (ac[$0] / ac[0]), 0), 0.999) }
            default:
                let (start, end, tau) = (-3.0, 3.0, 1.0)
                func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
                // The library makes v_start and v_end float32 tensors before mixing them into float64.
                func sigmoid32(_ x: Double) -> Double { Double(1 / (1 + Foundation.exp(-Float(x)))) }
                let vStart = sigmoid32(start / tau), vEnd = sigmoid32(end / tau)
                let ac = float64Linspace(0, Double(t), t + 1).map { x in
                    (-sigmoid((x / Double(t) * (end - start) + start) / tau) + vEnd) / (vEnd - vStart)
                }
                b = (0..<t).map { min(max(1 - (ac[$0 + 1] / ac[0]) / (ac[$0] / ac[0]), 0), 0.999) }
            }
            var acc = 1.0
            alphasCumprod = b.map { acc *= 1 - $0; return Double(Float(acc)) }  // computed in float64, stored float32
            betas = b
        }
    }
}

extension NoiseSchedule {
    /// The schedule a model's config names: the one place a config becomes a schedule.
    public init(_ config: ScheduleConfig) {
        self.init(config.betaSchedule, timesteps: config.numTrainTimesteps, betaStart: config.betaStart, betaEnd: config.betaEnd)
    }
}

/// torch.linspace in float32: the first half counts up from `start`, the second down from `end`.
func torchLinspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
    if count == 1 { return [start] }
    let step = (end - start) / Float(count - 1), half = count / 2
    return (0..<count).map { i in i < half ? start + step * Float(i) : end - step * Float(count - 1 - i) }
}

/// torch.linspace in float64 (same two-ended formula).
func float64Linspace(_ start: Double, _ end: Double, _ count: Int) -> [Double] {
    if count == 1 { return [start] }
    let step = (end - start) / Double(count - 1), half = count / 2
    return (0..<count).map { i in i < half ? start + step * Double(i) : end - step * Double(count - 1 - i) }
}
