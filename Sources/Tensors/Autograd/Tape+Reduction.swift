// Tape+Reduction: sum, mean, variance over axes and the standard losses built on them.

/// Differentiable reductions.
enum ReductionOp {
    case sum(axes: [Int], keepDims: Bool)
    case mean(axes: [Int], keepDims: Bool)
    case variance(axes: [Int], correction: Int, keepDims: Bool)
}

extension ReductionOp {
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, x = c.inputs[0]
        switch self {
        case let .sum(axes, _):
            return [try cpu.broadcast(c.grad.reshaped(keptShape(x.shape, axes)), to: x.shape)]
        case let .mean(axes, _):
            let n = reducedCount(x.shape, axes)
            return [try cpu.broadcast(cpu.affine(c.grad, scale: 1 / Float(n)).reshaped(keptShape(x.shape, axes)), to: x.shape)]
        case let .variance(axes, correction, _):
            // d var / dx = 2 (x - mean) / (n - correction)
            let n = reducedCount(x.shape, axes)
            let m = try cpu.mean(x, axes: axes, keepDims: true)
            let d = try cpu.sub(x, m)
            let g = try c.grad.reshaped(keptShape(x.shape, axes))
            return [try cpu.mul(cpu.affine(d, scale: 2 / Float(max(n - correction, 1))), g)]
        }
    }

    private func keptShape(_ s: Shape, _ axes: [Int]) -> Shape {
        var out = s
        for a in axes { out[s.normalizedAxis(a)!] = 1 }
        return out
    }

    private func reducedCount(_ s: Shape, _ axes: [Int]) -> Int {
        Set(axes.map { s.normalizedAxis($0)! }).reduce(1) { $0 * s[$1] }
    }
}

extension Tape {
    /// Sum over `axes`.
    public func sum(_ x: Var, axes: [Int], keepDims: Bool = false) throws -> Var {
        record(try cpu.sum(self[x], axes: axes, keepDims: keepDims), .reduction(.sum(axes: axes, keepDims: keepDims)), [x])
    }

    /// Mean over `axes`.
    public func mean(_ x: Var, axes: [Int], keepDims: Bool = false) throws -> Var {
        record(try cpu.mean(self[x], axes: axes, keepDims: keepDims), .reduction(.mean(axes: axes, keepDims: keepDims)), [x])
    }

    /// Mean of all elements (rank-0 result).
    public func meanAll(_ x: Var) throws -> Var { try mean(x, axes: Array(0..<self[x].rank)) }

    /// Sum of all elements (rank-0 result).
    public func sumAll(_ x: Var) throws -> Var { try sum(x, axes: Array(0..<self[x].rank)) }

    /// Variance over `axes` with `correction` (0 population, 1 unbiased).
    public func variance(_ x: Var, axes: [Int], correction: Int = 0, keepDims: Bool = false) throws -> Var {
        record(try cpu.variance(self[x], axes: axes, correction: correction, keepDims: keepDims),
               .reduction(.variance(axes: axes, correction: correction, keepDims: keepDims)), [x])
    }

    /// Mean squared error between `prediction` and `target` (same shape), rank-0.
    public func mseLoss(_ prediction: Var, _ target: Var) throws -> Var {
        try requireSameShape("mseLoss", prediction, target)
        return try meanAll(pow(sub(prediction, target), 2))
    }

    /// Mean absolute error between `prediction` and `target` (same shape), rank-0.
    public func l1Loss(_ prediction: Var, _ target: Var) throws -> Var {
        try requireSameShape("l1Loss", prediction, target)
        return try meanAll(unary(.abs, sub(prediction, target)))
    }

    /// Losses compare like with like: no silent broadcasting of a [N,1,H,W] target to [N,C,H,W].
    private func requireSameShape(_ op: String, _ a: Var, _ b: Var) throws {
        guard self[a].shape == self[b].shape else {
            throw TensorError.shapeMismatch(op: op, self[a].shape, self[b].shape, detail: "prediction and target must have the same shape")
        }
    }
}
