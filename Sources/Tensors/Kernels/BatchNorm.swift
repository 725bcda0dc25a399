// BatchNorm as PyTorch's `nn.BatchNorm{1,2,3}d`: training mode normalizes with the batch's
// statistics (biased variance) and updates the running tensors in place (running = (1-m)·running
// + m·batch, the variance with the unbiased batch estimate); eval mode uses the running
// statistics. Layout [N, C, *spatial]; statistics per channel over N and spatial, two passes
// with 16-lane float blocks summed in Double. Parallel over channels (each owned by one thread),
// so results do not depend on the thread count. Naive twin in `Naive/Normalization+Naive.swift`.

extension CPU {
    /// Batch normalization; in training mode also updates `runningMean`/`runningVar` in place.
    /// - Parameters:
    ///   - x: `[N, C, *spatial]`
    ///   - weight, bias: `[C]` or nil (1 and 0)
    ///   - runningMean, runningVar: `[C]`
    ///   - training: batch statistics (and running update) when true, running statistics when false
    ///   - out: `[N, C, *spatial]`, or nil to allocate; must not overlap any input
    /// - Returns: `[N, C, *spatial]`
    public func batchNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, runningMean: Tensor,
                          runningVar: Tensor, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                          into out: Tensor? = nil) throws -> Tensor {
        try batchNormForward(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                             training: training, momentum: momentum, eps: eps, into: out).0
    }

    /// Gradients of ``batchNorm``. `savedMean` and `savedInvStd` `[C]` are the statistics the
    /// forward normalized with (batch stats in training, running stats in eval).
    /// Training: the full batch-statistics gradient; eval: a per-channel affine.
    public func batchNormBackward(_ x: Tensor, grad: Tensor, weight: Tensor?, savedMean: Tensor, savedInvStd: Tensor,
                                  training: Bool) throws -> LayerGradients {
        let op = "batchNormBackward"
        guard x.rank >= 2, grad.shape == x.shape else {
            throw TensorError.shapeMismatch(op: op, x.shape, grad.shape, detail: "grad must match x [N, C, *spatial]")
        }
        let n = x.shape[0], c = x.shape[1], s = x.shape.product(2..<x.rank), count = n * s
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
        let px = x.pointer, pg = grad.pointer, pdx = dx.pointer, pdw = dw.pointer, pdb = db.pointer
        let pm = savedMean.pointer, pr = savedInvStd.pointer, pw = weight?.pointer
        parallelFor(c, grain: max(1, 16384 / max(count, 1))) { channels in
            for ch in channels {
                let mu = pm[ch], rs = pr[ch], w = pw?[ch] ?? 1
                let vm = F16(repeating: mu)
                var a = 0.0, b = 0.0
                for i in 0..<n {
                    let src = px + (i * c + ch) * s, gs = pg + (i * c + ch) * s
                    var va = F16(), vb = F16(), j = 0
                    while j + 16 <= s { let d = load16(gs + j); va += d; vb += d * (load16(src + j) - vm); j += 16 }
                    var sa = Double(va.sum()), sb = Double(vb.sum())
                    while j < s { sa += Double(gs[j]); sb += Double(gs[j] * (src[j] - mu)); j += 1 }
                    a += sa; b += sb
                }
                pdb[ch] = Float(a)
                pdw[ch] = Float(b * Double(rs))
                // dx = rstd·w·(dy − A/M − x̂·rstd·B/M) in training; rstd·w·dy in eval.
                let k1 = rs * w
                let k0 = training ? Float(-Double(k1) * a / Double(count)) : 0
                let k2 = training ? Float(-Double(k1) * Double(rs) * Double(rs) * b / Double(count)) : 0
                let v0 = F16(repeating: k0), v1 = F16(repeating: k1), v2 = F16(repeating: k2)
                for i in 0..<n {
                    let off = (i * c + ch) * s
                    let src = px + off, gs = pg + off, o = pdx + off
                    var j = 0
                    while j + 16 <= s { store16(v1 * load16(gs + j) + v0 + (load16(src + j) - vm) * v2, o + j); j += 16 }
                    while j < s { o[j] = k1 * gs[j] + k0 + (src[j] - mu) * k2; j += 1 }
                }
            }
        }
        withExtendedLifetime((x, grad, weight, savedMean, savedInvStd)) {}
        return LayerGradients(input: dx, weight: dw, bias: db)
    }

    /// Forward pass returning the output and the statistics it normalized with (mean, 1/std).
    func batchNormForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float, eps: Float, into out: Tensor? = nil) throws -> (Tensor, Tensor, Tensor) {
        let op = "batchNorm"
        guard x.rank >= 2 else { throw TensorError.invalidArgument(op: op, "x must be [N, C, *spatial], got \(x.shape)") }
        let n = x.shape[0], c = x.shape[1], s = x.shape.product(2..<x.rank), count = n * s
        for (name, t) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
            if let t, t.shape != [c] {
                throw TensorError.shapeMismatch(op: op, x.shape, t.shape, detail: "\(name) must be [C] = [\(c)]")
            }
        }
        if training && count <= 1 {
            throw TensorError.invalidArgument(op: op, "training needs more than 1 value per channel, got x \(x.shape)")
        }
        let out = try Tensor.output(out, shape: x.shape, op: op)  // every element is written
        let mean = Tensor(zeros: [c]), invStd = Tensor(zeros: [c])
        let batchVar = Tensor(zeros: [c])
        let px = x.pointer, py = out.pointer, pm = mean.pointer, pr = invStd.pointer, pv = batchVar.pointer
        let pw = weight?.pointer, pb = bias?.pointer, prm = runningMean.pointer, prv = runningVar.pointer
        parallelFor(c, grain: max(1, 16384 / max(count, 1))) { channels in
            for ch in channels {
                var mu: Float, variance: Double
                if training {
                    var sum = 0.0
                    for i in 0..<n { sum += blockedSum(px + (i * c + ch) * s, s) }
                    mu = Float(sum / Double(count))
                    var sq = 0.0
                    for i in 0..<n { sq += blockedSquaredDeviation(px + (i * c + ch) * s, s, mu) }
                    variance = sq / Double(count)
                    pv[ch] = Float(variance)
                } else {
                    mu = prm[ch]
                    variance = Double(prv[ch])
                }
                let rs = Float(1 / (variance + Double(eps)).squareRoot())
                pm[ch] = mu
                pr[ch] = rs
                let a = rs * (pw?[ch] ?? 1), b = pb?[ch] ?? 0
                let va = F16(repeating: a), vb = F16(repeating: b), vm = F16(repeating: mu)
                for i in 0..<n {
                    let src = px + (i * c + ch) * s, o = py + (i * c + ch) * s
                    var j = 0
                    while j + 16 <= s { store16((load16(src + j) - vm) * va + vb, o + j); j += 16 }
                    while j < s { o[j] = (src[j] - mu) * a + b; j += 1 }
                }
            }
        }
        if training {
            let unbias = Double(count) / Double(count - 1)
            for ch in 0..<c {
                prm[ch] = Float((1 - Double(momentum)) * Double(prm[ch]) + Double(momentum) * Double(pm[ch]))
                prv[ch] = Float((1 - Double(momentum)) * Double(prv[ch]) + Double(momentum) * Double(pv[ch]) * unbias)
            }
        }
        withExtendedLifetime((x, weight, bias, runningMean, runningVar, out)) {}
        return (out, mean, invStd)
    }
}
