// Timesteps: which training timesteps a sampler visits, in order, and the "previous" timestep each
// step moves to — exactly as diffusers' schedulers and denoising-diffusion-pytorch compute them:
//   leading   (T // S)·i + steps_offset            diffusers' DDIM/DDPM default ("never starts at T−1")
//   trailing  round(T − (T/S)·i) − 1               starts at T−1
//   linspace  round(linspace(0, T−1, S)), reversed
//   lucidrains linspace(−1, T−1, S+1) in float32, truncated, reversed, taken in pairs (t, t_next)
// DPM-Solver++ spaces S+1 points and drops the last (diffusers' DPMSolverMultistepScheduler).
// The spacing names (`TimestepSpacing`) live with the schedule vocabulary in ModelIO, since a
// model's scheduler config names its spacing.

import Foundation
import ModelIO

/// The timesteps a sampler visits and where each step lands.
public struct TimestepPlan: Sendable, Equatable {
    /// Model timesteps, in visiting order.
    public let timesteps: [Int]
    /// The timestep each step moves the sample to; −1 means the clean sample x0.
    public let previous: [Int]

    /// DDIM / DDPM timesteps as diffusers computes them (and lucidrains' pairs). `previous` follows
    /// each library's rule: diffusers' DDIM steps back by T // S; DDPM and lucidrains move to the
    /// next listed timestep.
    public static func ddim(trainingTimesteps t: Int, steps s: Int, spacing: TimestepSpacing, stepsOffset: Int = 0,
                            ddpmPrevious: Bool = false) -> TimestepPlan {
        precondition(s >= 1 && s <= t, "TimestepPlan: steps \(s) must be 1…\(t)")
        if spacing == .lucidrains {
            let times = float32Linspace(-1, Float(t - 1), s + 1).map { Int($0) }.reversed().map { $0 }
            return TimestepPlan(timesteps: Array(times.dropLast()), previous: Array(times.dropFirst()))
        }
        let list: [Int]
        switch spacing {
        case .leading: list = (0..<s).reversed().map { $0 * (t / s) + stepsOffset }
        case .trailing:
            let ratio = Double(t) / Double(s)
            list = (0..<s).map { Int((Double(t) - Double($0) * ratio).rounded(.toNearestOrEven)) - 1 }
        case .linspace: list = numpyLinspace(0, Double(t - 1), s).map { Int($0.rounded(.toNearestOrEven)) }.reversed()
        case .lucidrains: list = []
        }
        let previous = ddpmPrevious ? list.indices.map { $0 + 1 < list.count ? list[$0 + 1] : -1 } : list.map { $0 - t / s }
        return TimestepPlan(timesteps: list, previous: previous)
    }

    /// DPM-Solver++ timesteps (diffusers' DPMSolverMultistepScheduler.set_timesteps).
    public static func dpmSolver(trainingTimesteps t: Int, steps s: Int, spacing: TimestepSpacing, stepsOffset: Int = 0) -> TimestepPlan {
        precondition(s >= 1 && s <= t, "TimestepPlan: steps \(s) must be 1…\(t)")
        let list: [Int]
        switch spacing {
        case .linspace: list = Array(numpyLinspace(0, Double(t - 1), s + 1).map { Int($0.rounded(.toNearestOrEven)) }.reversed().dropLast())
        case .leading:
            let ratio = t / (s + 1)
            list = Array((0...s).reversed().map { $0 * ratio + stepsOffset }.dropLast())
        case .trailing, .lucidrains:
            let ratio = Double(t) / Double(s)
            list = (0..<s).map { Int((Double(t) - Double($0) * ratio).rounded(.toNearestOrEven)) - 1 }
        }
        return TimestepPlan(timesteps: list, previous: list.indices.map { $0 + 1 < list.count ? list[$0 + 1] : -1 })
    }
}

/// numpy.linspace (float64): start + i·step, the last point exactly `end`.
func numpyLinspace(_ start: Double, _ end: Double, _ count: Int) -> [Double] {
    if count == 1 { return [start] }
    let step = (end - start) / Double(count - 1)
    return (0..<count).map { $0 == count - 1 ? end : start + Double($0) * step }
}

/// torch.linspace in float32 (two-ended), as denoising-diffusion-pytorch's time pairs use it.
func float32Linspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] { TorchLinspace.float32(start, end, count) }
