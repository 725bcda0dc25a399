// ImageToImage: SDEdit (image-to-image) and RePaint-style inpainting as one sample's state — the
// init image x0 and mask a SampleJob keeps, the request checks that turn `GenerationOptions`'
// initImage/strength/mask/jumps into it, and the three elementwise operations a job applies:
//   start     x_start = √ᾱ_t0·x0 + √(1−ᾱ_t0)·ε   (strength < 1; ε is the sample's x_T noise)
//   known     x = m·x_gen + (1−m)·x_known, x_known = √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε'   (x0 itself
//             at the last step, so the kept pixels end exactly equal to the init image)
//   renoise   x_t = √(ᾱ_t/ᾱ_prev)·x_prev + √(1−ᾱ_t/ᾱ_prev)·ε''   (RePaint's resampling)
// Noise layout within the sample's Philox stream (count = C·H·W, e = the job's model evaluation):
// ε at element 0 (plain generation's x_T), the sampler's noise at (e+1)·count (plain generation's
// layout when there are no jumps), ε' at 2^40 + e·count, ε'' at 2^41 + e·count. Scalars in Float,
// as diffusers' `add_noise` computes them on float32 ᾱ. Not here: the timestep cut (Sampler's
// `keptSteps`), image decoding (ImageConversion).

import Foundation
import Tensors

/// The init image and mask of one image-to-image or inpainting sample.
public struct SourceImage: Sendable {
    /// The init image x0 in model space, `[C, H, W]`.
    public let x0: [Float]
    /// 1 = regenerate, 0 = keep, `[C, H, W]` (a `[1, H, W]` mask repeated per channel); nil: SDEdit.
    public let mask: [Float]?
    /// RePaint resamplings per step (inpainting only).
    public let jumps: Int
    /// Whether the sample starts from x0 noised to the first timestep (strength < 1) rather than
    /// from pure noise.
    public let startsFromImage: Bool

    /// Philox element offsets of ε' (known region) and ε'' (re-noising) within a sample's stream.
    static let knownNoiseOffset: UInt64 = 1 << 40, renoiseOffset: UInt64 = 1 << 41

    /// x ← √ᾱ·x0 + √(1−ᾱ)·noise (diffusers' `add_noise` in float32), `count` floats.
    static func noised(_ x0: [Float], alphaBar: Double, noise: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>) {
        let a = Float(alphaBar), sa = a.squareRoot(), sb = (1 - a).squareRoot()
        for k in x0.indices { x[k] = sa * x0[k] + sb * noise[k] }
    }

    /// Replaces the kept region of `x` (`[C, H, W]`) by x0 noised to ᾱ (`noise`), or by x0 itself
    /// when `exact`; where the mask is 1 the generated value stays, where 0 the known one is taken
    /// as is, in between they are mixed.
    func merge(into x: UnsafeMutablePointer<Float>, alphaBar: Double, noise: UnsafePointer<Float>, exact: Bool) {
        guard let mask else { return }
        let a = Float(alphaBar), sa = a.squareRoot(), sb = (1 - a).squareRoot()
        for k in x0.indices {
            let m = mask[k]
            if m == 1 { continue }
            let known = exact ? x0[k] : sa * x0[k] + sb * noise[k]
            x[k] = m == 0 ? known : m * x[k] + (1 - m) * known
        }
    }

    /// RePaint's resampling: x at ᾱ_prev back to ᾱ_t (ᾱ_t < ᾱ_prev), in place.
    static func renoise(_ x: UnsafeMutablePointer<Float>, count: Int, from alphaPrev: Double, to alphaT: Double, noise: UnsafePointer<Float>) {
        let ratio = alphaT / alphaPrev
        let keep = Float(ratio.squareRoot()), add = Float(max(1 - ratio, 0).squareRoot())
        for k in 0..<count { x[k] = keep * x[k] + add * noise[k] }
    }
}

extension BatchStepper {
    /// Largest accepted `jumps`: every step runs jumps + 1 model evaluations.
    public static let maxJumps = 100

    /// Each of `samples`' init image and mask from `request` (nil: plain generation), after
    /// checking strength, jumps and shapes; every refusal names what was wrong.
    func sourceImages(_ request: GenerationOptions, samples: Range<Int>) throws -> [SourceImage?] {
        let shape = model.imageShape, (h, w) = (shape[1], shape[2])
        let strength = request.strength, jumps = request.jumps, steps = request.sampler.steps
        guard strength > 0, strength <= 1 else {
            throw DiffusionError("strength must be in (0, 1] (1: start from pure noise), got \(strength)")
        }
        guard jumps >= 0, jumps <= Self.maxJumps else { throw DiffusionError("jumps must be 0…\(Self.maxJumps), got \(jumps)") }
        guard let image = request.initImage else {
            if request.mask != nil { throw DiffusionError("a mask needs an init image: its 0 pixels keep the init image's") }
            if strength < 1 { throw DiffusionError("strength \(strength) needs an init image (strength < 1 starts from the init image noised)") }
            if jumps > 0 { throw DiffusionError("jumps (RePaint resampling) need an init image and a mask") }
            return samples.map { _ in nil }
        }
        let one = Shape(shape), each = Shape([request.count] + shape), count = one.elementCount
        guard image.shape == one || image.shape == each else {
            throw DiffusionError("the init image has shape \(image.shape); expected [C, H, W] = \(one) (one for every sample) "
                                 + "or [N, C, H, W] = \(each) (one per sample)")
        }
        if let bad = (0..<image.count).first(where: { !image.pointer[$0].isFinite }) {
            throw DiffusionError("the init image holds \(image.pointer[bad]) at element \(bad); it must be finite (model space, nominally [-1, 1])")
        }
        guard Sampler.keptSteps(steps: steps, strength: strength) >= 1 else {
            throw DiffusionError("strength \(strength) with \(steps) steps leaves no denoising step (int(\(steps) × \(strength)) = 0): "
                                 + "raise the strength or the steps")
        }
        var mask: [Float]?
        if let m = request.mask {
            guard m.shape == [1, h, w] || m.shape == one else {
                throw DiffusionError("the mask has shape \(m.shape); expected [1, H, W] = [1, \(h), \(w)] or [C, H, W] = \(one)")
            }
            if let bad = (0..<m.count).first(where: { !(m.pointer[$0] >= 0 && m.pointer[$0] <= 1) }) {
                throw DiffusionError("the mask holds \(m.pointer[bad]) at element \(bad); values must be in [0, 1] (1 = regenerate, 0 = keep)")
            }
            let plane = h * w
            mask = withExtendedLifetime(m) { (0..<count).map { m.pointer[m.shape[0] == 1 ? $0 % plane : $0] } }
        }
        if jumps > 0 {
            guard mask != nil else { throw DiffusionError("jumps (RePaint resampling) need a mask: they resample an inpainting") }
            guard request.sampler.kind != .dpmSolverPlusPlus else {
                throw DiffusionError("jumps (RePaint resampling) need a one-step sampler (ddpm or ddim), not dpm-solver++")
            }
        }
        let perSample = image.shape == each
        return withExtendedLifetime((image, request.mask)) {
            samples.map { k in
                let base = image.pointer + (perSample ? k * count : 0)
                return SourceImage(x0: Array(UnsafeBufferPointer(start: base, count: count)), mask: mask, jumps: jumps,
                                   startsFromImage: strength < 1)
            }
        }
    }
}
