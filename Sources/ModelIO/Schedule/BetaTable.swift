// BetaTable: β_t and ᾱ_t = Π(1 − β_s), t = 0..<T, for every schedule users' checkpoints were
// trained with — diffusers' linear, scaled_linear, squaredcos_cap_v2 (cosine) and sigmoid,
// denoising-diffusion-pytorch's linear (rescaled by 1000/T), cosine and sigmoid — and for explicit
// betas (`trained_betas`). Each is computed in the precision its library uses: diffusers in
// float32 (torch.linspace's two-ended formula, cumulative product in float32), lucidrains in
// float64 with ᾱ stored as float32, so the values agree with theirs to the last bits (checked
// against fixtures of both libraries). Lives in ModelIO because importers must recognise a
// schedule from a checkpoint's buffers; Diffusion's NoiseSchedule is built from it.

import Foundation

/// β_t and ᾱ_t of T training timesteps, as the library that trained a model stores them.
public struct BetaTable: Sendable, Equatable {
    /// β_t, t = 0..<T.
    public let betas: [Double]
    /// ᾱ_t = Π_{s ≤ t} (1 − β_s), t = 0..<T.
    public let alphasCumprod: [Double]

    /// Explicit betas (a scheduler config's `trained_betas`, or a checkpoint's `betas` buffer):
    /// ᾱ as denoising-diffusion-pytorch computes it, cumulative product in float64, stored as float32.
    public init(trainedBetas betas: [Double]) {
        var acc = 1.0
        alphasCumprod = betas.map { acc *= 1 - $0; return Double(Float(acc)) }
        self.betas = betas
    }

    init(betas: [Double], alphasCumprod: [Double]) {
        (self.betas, self.alphasCumprod) = (betas, alphasCumprod)
    }
}

extension BetaSchedule {
    /// The table of this schedule over `timesteps` steps; `betaStart`/`betaEnd` apply to diffusers'
    /// linear, scaled_linear and sigmoid schedules.
    public func table(timesteps t: Int, betaStart: Double = 0.0001, betaEnd: Double = 0.02) -> BetaTable {
        precondition(t >= 1, "BetaSchedule.table: timesteps must be ≥ 1")
        switch self {
        case .linear, .scaledLinear, .sigmoid:
            let b: [Float]
            switch self {
            case .linear: b = TorchLinspace.float32(Float(betaStart), Float(betaEnd), t)
            case .scaledLinear: b = TorchLinspace.float32(Float(betaStart).squareRoot(), Float(betaEnd).squareRoot(), t).map { $0 * $0 }
            default:
                let (lo, span) = (Float(betaStart), Float(betaEnd) - Float(betaStart))
                b = TorchLinspace.float32(-6, 6, t).map { 1 / (1 + Foundation.exp(-$0)) * span + lo }
            }
            return Self.float32Cumprod(b)
        case .cosine:
            // diffusers' betas_for_alpha_bar: python floats, then a float32 tensor.
            func alphaBar(_ x: Double) -> Double { let c = Foundation.cos((x + 0.008) / 1.008 * Double.pi / 2); return c * c }
            return Self.float32Cumprod((0..<t).map { i in Float(min(1 - alphaBar(Double(i + 1) / Double(t)) / alphaBar(Double(i) / Double(t)), 0.999)) })
        case .lucidrainsLinear, .lucidrainsCosine, .lucidrainsSigmoid:
            let b: [Double]
            switch self {
            case .lucidrainsLinear:
                let scale = 1000 / Double(t)
                b = TorchLinspace.float64(scale * 0.0001, scale * 0.02, t)
            case .lucidrainsCosine:
                let s = 0.008
                let ac = TorchLinspace.float64(0, Double(t), t + 1).map { x -> Double in
                    let c = Foundation.cos((x / Double(t) + s) / (1 + s) * Double.pi * 0.5); return c * c
                }
                b = (0..<t).map { min(max(1 - (ac[$0 + 1] / ac[0]) / (ac[$0] / ac[0]), 0), 0.999) }
            default:
                let (start, end, tau) = (-3.0, 3.0, 1.0)
                func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
                // The library makes v_start and v_end float32 tensors before mixing them into float64.
                func sigmoid32(_ x: Double) -> Double { Double(1 / (1 + Foundation.exp(-Float(x)))) }
                let vStart = sigmoid32(start / tau), vEnd = sigmoid32(end / tau)
                let ac = TorchLinspace.float64(0, Double(t), t + 1).map { x in
                    (-sigmoid((x / Double(t) * (end - start) + start) / tau) + vEnd) / (vEnd - vStart)
                }
                b = (0..<t).map { min(max(1 - (ac[$0 + 1] / ac[0]) / (ac[$0] / ac[0]), 0), 0.999) }
            }
            return BetaTable(trainedBetas: b)  // computed in float64, ᾱ stored float32
        }
    }

    /// diffusers: betas a float32 tensor, ᾱ its float32 cumulative product.
    private static func float32Cumprod(_ b: [Float]) -> BetaTable {
        var acc: Float = 1
        let ac = b.map { acc *= 1 - $0; return Double(acc) }
        return BetaTable(betas: b.map(Double.init), alphasCumprod: ac)
    }
}

/// torch.linspace: the first half counts up from `start`, the second down from `end`.
public enum TorchLinspace {
    /// In float32 (torch's default dtype).
    public static func float32(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
        if count == 1 { return [start] }
        let step = (end - start) / Float(count - 1), half = count / 2
        return (0..<count).map { i in i < half ? start + step * Float(i) : end - step * Float(count - 1 - i) }
    }

    /// In float64 (`dtype = torch.float64`).
    public static func float64(_ start: Double, _ end: Double, _ count: Int) -> [Double] {
        if count == 1 { return [start] }
        let step = (end - start) / Double(count - 1), half = count / 2
        return (0..<count).map { i in i < half ? start + step * Double(i) : end - step * Double(count - 1 - i) }
    }
}
