// Sampler: one reverse-diffusion step for DDPM, DDIM (diffusers' and denoising-diffusion-pytorch's
// spacing) and DPM-Solver++ 2M, with epsilon / sample / v_prediction models — the formulas of
// diffusers' DDPMScheduler, DDIMScheduler and DPMSolverMultistepScheduler (algorithm dpmsolver++,
// order 2, midpoint, final sigma 0), checked step by step against them. A step works on one
// sample's flat buffer (or a whole batch at the same step: the math is elementwise), so the
// server can batch samples that sit at different steps; a multistep sampler's memory lives in the
// caller's `SamplerHistory`, one per sample. Scalars are computed in Double, elements in Float.

import Foundation
import ModelIO

/// Sampling algorithms.
public enum SamplerKind: String, Sendable, Codable, CaseIterable {
    case ddpm, ddim, dpmSolverPlusPlus = "dpm-solver++"
}

/// DDPM's posterior variance choice.
public enum DDPMVariance: String, Sendable, Codable {
    /// β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t (the posterior variance; clamped at 1e-20).
    case fixedSmall = "fixed_small"
    /// β_t.
    case fixedLarge = "fixed_large"
}

/// Everything that chooses a sampler's behaviour.
public struct SamplerOptions: Sendable, Equatable {
    public var kind: SamplerKind = .ddim
    public var steps: Int = 50
    public var spacing: TimestepSpacing = .leading
    public var stepsOffset: Int = 0
    public var prediction: PredictionType = .epsilon
    /// DDIM's η (0: deterministic; 1: DDPM-like noise).
    public var eta: Double = 0
    public var clipSample: Bool = true
    public var clipRange: Double = 1
    /// DDIM: ᾱ before the first training step is 1 (else ᾱ_0).
    public var setAlphaToOne: Bool = true
    /// DDIM: after clipping x0, re-derive ε from it (denoising-diffusion-pytorch always does;
    /// diffusers only with `use_clipped_model_output`).
    public var rederiveNoise: Bool = false
    public var variance: DDPMVariance = .fixedSmall

    public init() {}

    /// The defaults for a model with `config` and `steps` denoising steps — the one place a
    /// model's schedule becomes sampler settings: its prediction type, clipping, timestep spacing,
    /// steps offset, `set_alpha_to_one` and `use_clipped_model_output` (→ `rederiveNoise`); DDPM
    /// when `steps` equals the training timesteps, DDIM otherwise (denoising-diffusion-pytorch's
    /// rule too: p_sample_loop unless sampling_timesteps < timesteps).
    public init(for config: ScheduleConfig, steps: Int) {
        kind = steps == config.numTrainTimesteps ? .ddpm : .ddim
        self.steps = steps
        spacing = config.timestepSpacing
        stepsOffset = config.stepsOffset
        prediction = config.predictionType
        clipSample = config.clipSample
        clipRange = config.clipSampleRange
        setAlphaToOne = config.setAlphaToOne
        rederiveNoise = config.useClippedModelOutput
        eta = config.eta
    }
}

/// A multistep sampler's per-sample memory.
public struct SamplerHistory: Sendable {
    /// DPM-Solver++: the previous step's x0 prediction.
    var previousX0: [Float] = []
    /// Steps taken so far (DPM-Solver++ runs first order until it has a previous prediction).
    var stepsTaken = 0

    public init() {}
}

/// A configured sampler over a noise schedule.
public struct Sampler: Sendable {
    public let options: SamplerOptions
    public let schedule: NoiseSchedule
    public let plan: TimestepPlan
    /// DPM-Solver++: σ at each visited timestep, then 0.
    let sigmas: [Double]

    public var timesteps: [Int] { plan.timesteps }

    /// Whether a step consumes Gaussian noise.
    public var addsNoise: Bool { options.kind == .ddpm || (options.kind == .ddim && options.eta > 0) }

    /// A sampler over `options.steps` steps, or for image-to-image (`strength` < 1) the last
    /// ``Sampler/keptSteps(steps:strength:)`` of them (diffusers' img2img `get_timesteps`).
    public init(_ options: SamplerOptions, schedule: NoiseSchedule, strength: Double = 1) {
        self.options = options
        self.schedule = schedule
        let t = schedule.trainingTimesteps
        let plan: TimestepPlan, sigmas: [Double]
        switch options.kind {
        case .ddpm:
            plan = options.steps == t && options.spacing != .lucidrains
                ? TimestepPlan(timesteps: Array((0..<t).reversed()), previous: (0..<t).reversed().map { $0 - 1 })
                : TimestepPlan.ddim(trainingTimesteps: t, steps: options.steps, spacing: options.spacing,
                                    stepsOffset: options.stepsOffset, ddpmPrevious: true)
            sigmas = []
        case .ddim:
            plan = TimestepPlan.ddim(trainingTimesteps: t, steps: options.steps, spacing: options.spacing, stepsOffset: options.stepsOffset)
            sigmas = []
        case .dpmSolverPlusPlus:
            plan = TimestepPlan.dpmSolver(trainingTimesteps: t, steps: options.steps, spacing: options.spacing, stepsOffset: options.stepsOffset)
            let ac = schedule.alphasCumprod
            sigmas = plan.timesteps.map { Double(Float(((1 - ac[$0]) / ac[$0]).squareRoot())) } + [0]
        }
        let skipped = options.steps - Self.keptSteps(steps: options.steps, strength: strength)
        self.plan = TimestepPlan(timesteps: Array(plan.timesteps.dropFirst(skipped)), previous: Array(plan.previous.dropFirst(skipped)))
        self.sigmas = Array(sigmas.dropFirst(skipped))
    }

    /// How many of `steps` steps an image-to-image sample of `strength` (0, 1] runs: diffusers'
    /// img2img `init_timestep = min(int(steps · strength), steps)`; the plan starts at
    /// `timesteps[steps − init_timestep]` (every sampler here has diffusers' `order` 1). 0 means
    /// the strength is too low for the step count (`BatchStepper.jobs` refuses it).
    public static func keptSteps(steps: Int, strength: Double) -> Int {
        guard strength > 0 else { return 0 }
        return min(Int(Double(steps) * strength), steps)
    }

    /// ᾱ at timestep `t` (t < 0: 1, or ᾱ_0 for DDIM without `setAlphaToOne`).
    func alphaBar(_ t: Int) -> Double {
        if t >= 0 { return schedule.alphasCumprod[t] }
        return options.kind == .ddim && !options.setAlphaToOne ? schedule.alphasCumprod[0] : 1
    }

    /// Step `i` (of `timesteps`) for one sample: `sample` (x_t, `count` floats) becomes x at the next
    /// timestep in place; `predictedX0` receives the clean-sample prediction. `noise` must be given
    /// when ``addsNoise`` (standard normal, `count` floats).
    public func step(_ i: Int, modelOutput: UnsafePointer<Float>, sample: UnsafeMutablePointer<Float>,
                     noise: UnsafePointer<Float>?, predictedX0 x0: UnsafeMutablePointer<Float>, count: Int,
                     history: inout SamplerHistory) {
        precondition(i >= 0 && i < plan.timesteps.count, "Sampler.step: index \(i) outside 0..<\(plan.timesteps.count)")
        precondition(!addsNoise || noise != nil, "Sampler.step: this sampler needs noise")
        switch options.kind {
        case .ddpm: ddpmStep(i, modelOutput, sample, noise, x0, count)
        case .ddim: ddimStep(i, modelOutput, sample, noise, x0, count)
        case .dpmSolverPlusPlus: dpmSolverStep(i, modelOutput, sample, x0, count, &history)
        }
        history.stepsTaken += 1
    }

    /// x0 and ε from the model output at ᾱ = `a`.
    @inline(__always)
    func predict(_ output: Float, _ x: Float, sqrtA: Float, sqrtB: Float) -> (x0: Float, eps: Float) {
        switch options.prediction {
        case .epsilon: return ((x - sqrtB * output) / sqrtA, output)
        case .sample: return (output, (x - sqrtA * output) / sqrtB)
        case .vPrediction: return (sqrtA * x - sqrtB * output, sqrtA * output + sqrtB * x)
        }
    }

    private func ddpmStep(_ i: Int, _ out: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ noise: UnsafePointer<Float>?,
                          _ x0: UnsafeMutablePointer<Float>, _ n: Int) {
        // Scalars in float32, in diffusers' order: 1 − ᾱ_t/ᾱ_{t−1} cancels when β is ~1e-4, and the
        // reference rounds there; double precision here would be more exact but not the same step.
        let t = plan.timesteps[i], prev = plan.previous[i]
        let aT = Float(alphaBar(t)), aPrev = Float(alphaBar(prev))
        let bT = 1 - aT, bPrev = 1 - aPrev
        let currentAlpha = aT / aPrev, currentBeta = 1 - currentAlpha
        let c0 = (aPrev.squareRoot() * currentBeta) / bT, c1 = currentAlpha.squareRoot() * bPrev / bT
        let variance = options.variance == .fixedSmall ? max(bPrev / bT * currentBeta, 1e-20) : currentBeta
        let std = t > 0 ? variance.squareRoot() : 0
        let (sa, sb) = (aT.squareRoot(), bT.squareRoot()), r = Float(options.clipRange)
        for k in 0..<n {
            var p = predict(out[k], x[k], sqrtA: sa, sqrtB: sb).x0
            if options.clipSample { p = min(max(p, -r), r) }
            x0[k] = p
            x[k] = c0 * p + c1 * x[k] + (std > 0 ? std * noise![k] : 0)
        }
    }

    private func ddimStep(_ i: Int, _ out: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ noise: UnsafePointer<Float>?,
                          _ x0: UnsafeMutablePointer<Float>, _ n: Int) {
        let t = plan.timesteps[i], prev = plan.previous[i]
        let aT = alphaBar(t), aPrev = alphaBar(prev)
        let bT = 1 - aT, bPrev = 1 - aPrev
        let variance = (bPrev / bT) * (1 - aT / aPrev)
        let std = options.eta * variance.squareRoot()
        let direction = Float(max(1 - aPrev - std * std, 0).squareRoot()), keep = Float(aPrev.squareRoot())
        let (sa, sb) = (Float(aT.squareRoot()), Float(bT.squareRoot())), r = Float(options.clipRange), fstd = Float(std)
        for k in 0..<n {
            var (p, eps) = predict(out[k], x[k], sqrtA: sa, sqrtB: sb)
            if options.clipSample {
                p = min(max(p, -r), r)
                if options.rederiveNoise { eps = (x[k] - sa * p) / sb }
            }
            x0[k] = p
            x[k] = keep * p + direction * eps + (options.eta > 0 ? fstd * noise![k] : 0)
        }
    }

    private func dpmSolverStep(_ i: Int, _ out: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>,
                               _ x0: UnsafeMutablePointer<Float>, _ n: Int, _ history: inout SamplerHistory) {
        func alphaSigma(_ sigma: Double) -> (Double, Double) { let a = 1 / (sigma * sigma + 1).squareRoot(); return (a, sigma * a) }
        let (alphaS, sigmaS) = alphaSigma(sigmas[i]), (alphaT, sigmaT) = alphaSigma(sigmas[i + 1])
        let (sa, sb) = (Float(alphaS), Float(sigmaS))
        for k in 0..<n { x0[k] = predict(out[k], x[k], sqrtA: sa, sqrtB: sb).x0 }
        let last = i == plan.timesteps.count - 1
        if sigmaT == 0 {
            // Final step to σ = 0: x = x0.
            for k in 0..<n { x[k] = x0[k] }
        } else {
            let lambdaT = log(alphaT) - log(sigmaT), lambdaS = log(alphaS) - log(sigmaS), h = lambdaT - lambdaS
            let ratio = Float(sigmaT / sigmaS), phi = Float(alphaT * (exp(-h) - 1))
            if history.previousX0.count != n || last || i == 0 {
                for k in 0..<n { x[k] = ratio * x[k] - phi * x0[k] }
            } else {
                let (alphaS1, sigmaS1) = alphaSigma(sigmas[i - 1])
                let lambdaS1 = log(alphaS1) - log(sigmaS1)
                let r0 = (lambdaS - lambdaS1) / h
                let d1Scale = Float(1 / r0)
                for k in 0..<n {
                    let d1 = d1Scale * (x0[k] - history.previousX0[k])
                    x[k] = ratio * x[k] - phi * x0[k] - 0.5 * phi * d1
                }
            }
        }
        if history.previousX0.count != n { history.previousX0 = [Float](repeating: 0, count: n) }  // once per sample
        history.previousX0.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: x0, count: n) }
    }
}
