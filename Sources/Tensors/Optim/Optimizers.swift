// Optimizers: AdamW and SGD with momentum (PyTorch's update rules, step for step), gradient
// clipping by global norm, learning-rate warmup, and an exponential moving average of weights.
// They update a ParameterSet's tensors in place; their state round-trips through
// `stateTensors()` / `loadState(_:)` so training can resume bit-exactly. Per-element math runs
// in parallel chunks; each element's update is independent, so any thread count gives the same bits.

import Foundation

/// An optimizer over a fixed ParameterSet.
public protocol Optimizer: AnyObject {
    /// Applies one update with learning rate `lr`; `gradients[i]` belongs to `parameters.tensors[i]`
    /// (nil = no gradient this step, parameter left unchanged).
    func step(_ gradients: [Tensor?], lr: Float)
    /// Steps taken so far.
    var stepCount: Int { get }
    /// The state to save for resuming, by name.
    func stateTensors() -> [String: Tensor]
    /// Restores state saved by `stateTensors()`.
    func loadState(_ state: [String: Tensor]) throws
}

/// AdamW (Loshchilov & Hutter), as `torch.optim.AdamW`: decoupled weight decay
/// `p ← p − lr·wd·p`, then `p ← p − lr · m̂ / (√v̂ + eps)` with bias-corrected moments.
public final class AdamW: Optimizer {
    public let parameters: ParameterSet
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var stepCount = 0
    private var m: [Tensor], v: [Tensor]
    private let cpu: CPU

    public init(_ parameters: ParameterSet, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0.01, cpu: CPU) {
        self.parameters = parameters
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        self.cpu = cpu
        m = parameters.tensors.map { Tensor(zeros: $0.shape) }
        v = parameters.tensors.map { Tensor(zeros: $0.shape) }
    }

    public func step(_ gradients: [Tensor?], lr: Float) {
        precondition(gradients.count == parameters.count, "AdamW.step: \(gradients.count) gradients for \(parameters.count) parameters")
        stepCount += 1
        let b1 = beta1, b2 = beta2, e = eps
        let bc1 = 1 - Foundation.pow(Double(b1), Double(stepCount))
        let bc2 = 1 - Foundation.pow(Double(b2), Double(stepCount))
        let stepSize = Float(Double(lr) / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let decay = 1 - lr * weightDecay
        for (i, g) in gradients.enumerated() {
            guard let g else { continue }
            let p = parameters.tensors[i]
            precondition(g.shape == p.shape, "AdamW.step: gradient \(g.shape) for parameter '\(parameters.names[i])' \(p.shape)")
            let pp = p.pointer, pg = g.pointer, pm = m[i].pointer, pv = v[i].pointer
            cpu.parallelFor(p.count, grain: 4096) { r in
                for j in r {
                    let gj = pg[j]
                    pp[j] *= decay
                    pm[j] = b1 * pm[j] + (1 - b1) * gj
                    pv[j] = b2 * pv[j] + (1 - b2) * gj * gj
                    let denom = pv[j].squareRoot() / bc2Sqrt + e
                    pp[j] -= stepSize * pm[j] / denom
                }
            }
            withExtendedLifetime((g, p)) {}
        }
    }

    public func stateTensors() -> [String: Tensor] {
        var s: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (i, n) in parameters.names.enumerated() {
            s["exp_avg." + n] = m[i]
            s["exp_avg_sq." + n] = v[i]
        }
        return s
    }

    public func loadState(_ state: [String: Tensor]) throws {
        guard let step = state["step"], step.count == 1 else {
            throw TensorError.invalidArgument(op: "AdamW.loadState", "missing 'step'")
        }
        for (i, n) in parameters.names.enumerated() {
            for (prefix, target) in [("exp_avg.", m[i]), ("exp_avg_sq.", v[i])] {
                guard let t = state[prefix + n], t.shape == target.shape else {
                    throw TensorError.invalidArgument(op: "AdamW.loadState", "missing or mis-shaped '\(prefix + n)'")
                }
                target.assign(t)
            }
        }
        stepCount = Int(step.scalar)
    }
}

/// SGD with momentum, as `torch.optim.SGD`: `g ← g + wd·p`; `b ← μ·b + (1 − dampening)·g`
/// (b = g on the first step); `p ← p − lr·(nesterov ? g + μ·b : b)`.
public final class SGD: Optimizer {
    public let parameters: ParameterSet
    public var momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool
    public private(set) var stepCount = 0
    private var buffers: [Tensor]
    private let cpu: CPU

    public init(_ parameters: ParameterSet, momentum: Float = 0.9, dampening: Float = 0, weightDecay: Float = 0,
                nesterov: Bool = false, cpu: CPU) {
        self.parameters = parameters
        self.momentum = momentum; self.dampening = dampening; self.weightDecay = weightDecay; self.nesterov = nesterov
        self.cpu = cpu
        buffers = parameters.tensors.map { Tensor(zeros: $0.shape) }
    }

    public func step(_ gradients: [Tensor?], lr: Float) {
        precondition(gradients.count == parameters.count, "SGD.step: \(gradients.count) gradients for \(parameters.count) parameters")
        let first = stepCount == 0
        stepCount += 1
        let mu = momentum, damp = dampening, wd = weightDecay, nest = nesterov
        for (i, g) in gradients.enumerated() {
            guard let g else { continue }
            let p = parameters.tensors[i]
            precondition(g.shape == p.shape, "SGD.step: gradient \(g.shape) for parameter \(p.shape)")
            let pp = p.pointer, pg = g.pointer, pb = buffers[i].pointer
            cpu.parallelFor(p.count, grain: 4096) { r in
                for j in r {
                    var d = pg[j] + wd * pp[j]
                    if mu != 0 {
                        pb[j] = first ? d : mu * pb[j] + (1 - damp) * d
                        d = nest ? d + mu * pb[j] : pb[j]
                    }
                    pp[j] -= lr * d
                }
            }
            withExtendedLifetime((g, p)) {}
        }
    }

    public func stateTensors() -> [String: Tensor] {
        var s: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (i, n) in parameters.names.enumerated() { s["momentum_buffer." + n] = buffers[i] }
        return s
    }

    public func loadState(_ state: [String: Tensor]) throws {
        guard let step = state["step"], step.count == 1 else {
            throw TensorError.invalidArgument(op: "SGD.loadState", "missing 'step'")
        }
        for (i, n) in parameters.names.enumerated() {
            guard let t = state["momentum_buffer." + n], t.shape == buffers[i].shape else {
                throw TensorError.invalidArgument(op: "SGD.loadState", "missing or mis-shaped 'momentum_buffer.\(n)'")
            }
            buffers[i].assign(t)
        }
        stepCount = Int(step.scalar)
    }
}

/// Scales gradients in place so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` (factor `maxNorm / (norm + 1e-6)`, capped at 1).
/// - Returns: the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: [Tensor?], maxNorm: Float) -> Float {
    var total = 0.0
    for g in gradients.compactMap({ $0 }) {
        for j in 0..<g.count { total += Double(g.pointer[j]) * Double(g.pointer[j]) }
    }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for g in gradients.compactMap({ $0 }) {
            for j in 0..<g.count { g.pointer[j] *= factor }
        }
    }
    return norm
}

/// Learning rate with linear warmup: `base · min(1, (step + 1) / warmupSteps)` for 0-based
/// `step`, then constant (or cosine-decayed to `minimum` at `totalSteps` when given).
public struct LearningRateSchedule: Sendable {
    public var base: Float
    public var warmupSteps: Int
    public var totalSteps: Int?
    public var minimum: Float

    public init(base: Float, warmupSteps: Int = 0, cosineDecayTo totalSteps: Int? = nil, minimum: Float = 0) {
        self.base = base; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.minimum = minimum
    }

    /// The rate for 0-based optimizer step `step`.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        guard let total = totalSteps, total > warmupSteps else { return base }
        let progress = min(1, Double(step - warmupSteps) / Double(total - warmupSteps))
        return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// Exponential moving average of parameters: `shadow ← decay·shadow + (1 − decay)·p`.
public final class ExponentialMovingAverage {
    public let decay: Float
    /// The averaged tensors, same names and order as the tracked set.
    public let shadow: ParameterSet

    public init(_ parameters: ParameterSet, decay: Float) throws {
        self.decay = decay
        shadow = try ParameterSet(zip(parameters.names, parameters.tensors.map { $0.copy() }).map { ($0, $1) })
    }

    /// Moves the average toward the current `parameters` (same names and shapes as at init).
    /// `step` (0-based update count), when given, warms the decay up as diffusers' EMAModel does:
    /// min(decay, (1 + step) / (10 + step)), so early averages are not dominated by the initial weights.
    public func update(from parameters: ParameterSet, step: Int? = nil) {
        precondition(parameters.count == shadow.count, "EMA.update: parameter count changed")
        let d = step.map { min(decay, Float(1 + $0) / Float(10 + $0)) } ?? decay
        for (s, p) in zip(shadow.tensors, parameters.tensors) {
            let ps = s.pointer, pp = p.pointer
            for j in 0..<s.count { ps[j] = d * ps[j] + (1 - d) * pp[j] }
        }
    }
}
