// Normalization kernels over groups of contiguous elements: GroupNorm (and the fused
// GroupNorm + SiLU of the inference plan), InstanceNorm (GroupNorm with one channel per group)
// and LayerNorm (one group per row, per-element affine), forward and backward.
// Layout: x is viewed as [outer, G, cpr, S] (row = one (outer, group) pair of M = cpr·S
// contiguous elements; the affine weight/bias index is g·cpr + c). Statistics per row in two
// passes (mean, then Σ(x-mean)²) with 16-lane float blocks summed in Double; population
// variance. Parallel over rows; each row is owned by one thread and reduced in a fixed order,
// so results are bit-identical for any thread count. BatchNorm is in `BatchNorm.swift`, RMS /
// L2 norms in `RMSNorm.swift`; naive twins in `Naive/Normalization+Naive.swift`; tape rules in
// `Autograd/Tape+Normalization.swift`.

import CKernels
import Foundation

/// How `x` splits into normalized rows for the grouped kernels.
struct GroupedLayout {
    let outer: Int, groups: Int, cpr: Int, spatial: Int
    var rows: Int { outer * groups }
    var rowLength: Int { cpr * spatial }
    var channels: Int { groups * cpr }
}

/// Per-row statistics saved by the forward pass: mean and 1/sqrt(var + eps), each `[rows]`.
struct RowStats {
    let mean: Tensor
    let rstd: Tensor
}


extension CPU {
    /// Group normalization as PyTorch's `nn.GroupNorm` (population variance).
    /// - Parameters:
    ///   - x: `[N, C, *spatial]` (rank ≥ 2)
    ///   - groups: divides C
    ///   - weight, bias: `[C]` or nil (1 and 0)
    ///   - out: `[N, C, *spatial]`, or nil to allocate; must not overlap `x`, `weight` or `bias`
    /// - Returns: `[N, C, *spatial]`
    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                          eps: Float = 1e-5, into out: Tensor? = nil) throws -> Tensor {
        let layout = try groupLayout(x, groups: groups, weight: weight, bias: bias, op: "groupNorm")
        return try groupedForward(x, layout, weight: weight, bias: bias, eps: eps, silu: false, into: out, op: "groupNorm").0
    }

    /// GroupNorm followed by SiLU in one pass over the output (the U-Net's norm → act pair).
    /// Same parameters, shapes and `out` rule as ``groupNorm(_:groups:weight:bias:eps:into:)``.
    public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                              eps: Float = 1e-5, into out: Tensor? = nil) throws -> Tensor {
        let layout = try groupLayout(x, groups: groups, weight: weight, bias: bias, op: "groupNormSiLU")
        return try groupedForward(x, layout, weight: weight, bias: bias, eps: eps, silu: true, into: out, op: "groupNormSiLU").0
    }

    /// Gradients of ``groupNorm(_:groups:weight:bias:eps:into:)`` (or of ``groupNormSiLU`` when
    /// `silu`) for the incoming gradient `grad` `[N, C, *spatial]`. Statistics are recomputed.
    public func groupNormBackward(_ x: Tensor, grad: Tensor, groups: Int, weight: Tensor?, bias: Tensor?,
                                  eps: Float = 1e-5, silu: Bool = false) throws -> LayerGradients {
        let op = silu ? "groupNormSiLUBackward" : "groupNormBackward"
        let layout = try groupLayout(x, groups: groups, weight: weight, bias: bias, op: op)
        guard grad.shape == x.shape else { throw TensorError.shapeMismatch(op: op, x.shape, grad.shape, detail: "grad must match x") }
        let stats = groupedStats(x, layout, eps: eps)
        return try groupedBackward(x, grad: grad, layout, stats: stats, weight: weight, bias: bias, silu: silu,
                                   needs: (true, weight != nil, bias != nil))
    }

    /// Instance normalization as ONNX `InstanceNormalization` / `nn.InstanceNorm2d(affine=True)`
    /// without running statistics: each (n, c) plane normalized over its spatial axes.
    /// - Parameters: x `[N, C, *spatial]`; weight, bias `[C]` or nil; out `[N, C, *spatial]` or nil
    ///   to allocate, not overlapping any input.
    public func instanceNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5,
                             into out: Tensor? = nil) throws -> Tensor {
        guard x.rank >= 2 else { throw TensorError.invalidArgument(op: "instanceNorm", "x must be [N, C, *spatial], got \(x.shape)") }
        let layout = try groupLayout(x, groups: x.shape[1], weight: weight, bias: bias, op: "instanceNorm")
        return try groupedForward(x, layout, weight: weight, bias: bias, eps: eps, silu: false, into: out, op: "instanceNorm").0
    }

    /// Layer normalization as `nn.LayerNorm(normalizedShape)`: each row of the last
    /// `normalizedRank` axes is normalized; weight and bias have the shape of those axes.
    /// - Parameters: x `[..., *normalized]`; weight, bias `[*normalized]` or nil; out x's shape or
    ///   nil to allocate, not overlapping any input.
    public func layerNorm(_ x: Tensor, normalizedRank: Int = 1, weight: Tensor? = nil, bias: Tensor? = nil,
                          eps: Float = 1e-5, into out: Tensor? = nil) throws -> Tensor {
        let layout = try layerLayout(x, normalizedRank: normalizedRank, weight: weight, bias: bias, op: "layerNorm")
        return try groupedForward(x, layout, weight: weight, bias: bias, eps: eps, silu: false, into: out, op: "layerNorm").0
    }

    // MARK: layouts and validation

    func groupLayout(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, op: String) throws -> GroupedLayout {
        guard x.rank >= 2 else { throw TensorError.invalidArgument(op: op, "x must be [N, C, *spatial], got \(x.shape)") }
        let c = x.shape[1]
        guard groups >= 1, c % groups == 0 else {
            throw TensorError.invalidArgument(op: op, "channels \(c) of x \(x.shape) are not divisible by groups \(groups)")
        }
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let t, t.shape != [c] {
                throw TensorError.shapeMismatch(op: op, x.shape, t.shape, detail: "\(name) must be [C] = [\(c)]")
            }
        }
        return GroupedLayout(outer: x.shape[0], groups: groups, cpr: c / groups, spatial: x.shape.product(2..<x.rank))
    }

    func layerLayout(_ x: Tensor, normalizedRank k: Int, weight: Tensor?, bias: Tensor?, op: String) throws -> GroupedLayout {
        guard k >= 1, k <= x.rank else {
            throw TensorError.invalidArgument(op: op, "normalizedRank \(k) must be in 1...\(x.rank) for x \(x.shape)")
        }
        let normalized = Shape(x.shape.suffix(k))
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let t, t.shape != normalized {
                throw TensorError.shapeMismatch(op: op, x.shape, t.shape, detail: "\(name) must be \(normalized)")
            }
        }
        return GroupedLayout(outer: x.shape.product(0..<(x.rank - k)), groups: 1, cpr: normalized.elementCount, spatial: 1)
    }

    // MARK: forward

    /// Per-row mean and 1/sqrt(var + eps).
    func groupedStats(_ x: Tensor, _ l: GroupedLayout, eps: Float) -> RowStats {
        let mean = Tensor(zeros: [l.rows]), rstd = Tensor(zeros: [l.rows])
        let px = x.pointer, pm = mean.pointer, pr = rstd.pointer, m = l.rowLength
        parallelFor(l.rows, grain: max(1, 16384 / max(m, 1))) { rows in
            for r in rows {
                let row = UnsafePointer(px + r * m)
                let mu = blockedSum(row, m) / Double(max(m, 1))
                let v = blockedSquaredDeviation(row, m, Float(mu)) / Double(max(m, 1))
                pm[r] = Float(mu)
                pr[r] = Float(1 / (v + Double(eps)).squareRoot())
            }
        }
        withExtendedLifetime(x) {}
        return RowStats(mean: mean, rstd: rstd)
    }

    /// Normalizes each row, applies the affine and optionally SiLU, into `out` (checked against
    /// x's shape under `op`) or a new tensor. Returns the output and stats.
    func groupedForward(_ x: Tensor, _ l: GroupedLayout, weight: Tensor?, bias: Tensor?, eps: Float,
                        silu: Bool, into out: Tensor? = nil, op: String = "groupNorm") throws -> (Tensor, RowStats) {
        let out = try Tensor.output(out, shape: x.shape, op: op)
        let stats = RowStats(mean: Tensor(zeros: [l.rows]), rstd: Tensor(zeros: [l.rows]))
        let px = x.pointer, py = out.pointer, pm = stats.mean.pointer, pr = stats.rstd.pointer
        let pw = weight?.pointer, pb = bias?.pointer
        let m = l.rowLength, cpr = l.cpr, s = l.spatial, groups = l.groups
        // Rows of at least 2K elements each get a thread (a batch-1 GroupNorm has only `groups` rows).
        parallelFor(l.rows, grain: max(1, 2048 / max(m, 1))) { rows in
            for r in rows {
                let row = UnsafePointer(px + r * m), dst = py + r * m
                let mu64 = blockedSum(row, m) / Double(max(m, 1))
                let mu = Float(mu64)
                let v = blockedSquaredDeviation(row, m, mu) / Double(max(m, 1))
                let rs = Float(1 / (v + Double(eps)).squareRoot())
                pm[r] = mu
                pr[r] = rs
                let c0 = (r % groups) * cpr
                if s == 1 {
                    // Per-element affine (LayerNorm rows): vectorize over channels.
                    dn_normalize_affine_vector(row, dst, m, mu, rs, pw.map { UnsafePointer($0 + c0) },
                                               pb.map { UnsafePointer($0 + c0) }, silu ? 1 : 0)
                    continue
                }
                for c in 0..<cpr {
                    let a = rs * (pw?[c0 + c] ?? 1), b = pb?[c0 + c] ?? 0
                    let src = row + c * s, o = dst + c * s
                    dn_normalize_affine(src, o, s, mu, a, b, silu ? 1 : 0)
                }
            }
        }
        withExtendedLifetime((x, weight, bias, out)) {}
        return (out, stats)
    }

    // MARK: backward

    /// Gradients of the grouped forward given its stats. With `silu`, `grad` is the gradient of
    /// SiLU(norm(x)) and is first turned into the gradient of norm(x) (recomputed here).
    func groupedBackward(_ x: Tensor, grad: Tensor, _ l: GroupedLayout, stats: RowStats, weight: Tensor?,
                         bias: Tensor?, silu: Bool, needs: (Bool, Bool, Bool)) throws -> LayerGradients {
        var g = grad
        if silu {
            g = Tensor(zeros: x.shape)
            let px = x.pointer, pg = grad.pointer, pd = g.pointer, pm = stats.mean.pointer, pr = stats.rstd.pointer
            let pw = weight?.pointer, pb = bias?.pointer
            let m = l.rowLength, s = l.spatial, cpr = l.cpr, groups = l.groups
            parallelFor(l.rows, grain: max(1, 16384 / max(m, 1))) { rows in
                for r in rows {
                    let c0 = (r % groups) * cpr
                    for i in 0..<m {
                        let c = c0 + i / s
                        let z = (px[r * m + i] - pm[r]) * pr[r] * (pw?[c] ?? 1) + (pb?[c] ?? 0)
                        let sig = 1 / (1 + Foundation.exp(-z))
                        pd[r * m + i] = pg[r * m + i] * sig * (1 + z * (1 - sig))
                    }
                }
            }
        }
        let m = l.rowLength, s = l.spatial, cpr = l.cpr, groups = l.groups, rows = l.rows
        // Per (row, channel): A = Σ_s dy, B = Σ_s dy·(x - mean).
        let sumA = Tensor(zeros: [rows * cpr]), sumB = Tensor(zeros: [rows * cpr])
        let dx = needs.0 ? Tensor(zeros: x.shape) : nil
        let px = x.pointer, pg = g.pointer, pa = sumA.pointer, pbB = sumB.pointer
        let pm = stats.mean.pointer, pr = stats.rstd.pointer, pw = weight?.pointer, pdx = dx?.pointer
        parallelFor(rows, grain: max(1, 16384 / max(m, 1))) { range in
            for r in range {
                let mu = pm[r], rs = pr[r], c0 = (r % groups) * cpr
                let row = px + r * m, gr = pg + r * m
                var sumWA = 0.0, sumWB = 0.0
                for c in 0..<cpr {
                    var a = 0.0, b = 0.0
                    var va = F16(), vb = F16()
                    let vm = F16(repeating: mu)
                    var i = 0
                    let src = row + c * s, gs = gr + c * s
                    while i + 16 <= s {
                        let d = load16(gs + i)
                        va += d; vb += d * (load16(src + i) - vm)
                        i += 16
                    }
                    a = Double(va.sum()); b = Double(vb.sum())
                    while i < s { a += Double(gs[i]); b += Double(gs[i] * (src[i] - mu)); i += 1 }
                    pa[r * cpr + c] = Float(a)
                    pbB[r * cpr + c] = Float(b)
                    let w = Double(pw?[c0 + c] ?? 1)
                    sumWA += w * a
                    sumWB += w * b
                }
                guard let pdx else { continue }
                // dx = rstd·(w·dy − mean(w·dy) − x̂·mean(w·dy·x̂))
                let m1 = Float(sumWA / Double(m)), m2 = Float(Double(rs) * sumWB / Double(m))
                let k0 = -rs * m1, k2 = -rs * rs * m2
                let out = pdx + r * m
                for c in 0..<cpr {
                    let k1 = rs * (pw?[c0 + c] ?? 1)
                    let src = row + c * s, gs = gr + c * s, o = out + c * s
                    let v0 = F16(repeating: k0), v1 = F16(repeating: k1), v2 = F16(repeating: k2), vm = F16(repeating: mu)
                    var i = 0
                    while i + 16 <= s { store16(v1 * load16(gs + i) + v0 + (load16(src + i) - vm) * v2, o + i); i += 16 }
                    while i < s { o[i] = k1 * gs[i] + k0 + (src[i] - mu) * k2; i += 1 }
                }
            }
        }
        var result = LayerGradients(input: dx)
        if needs.1 || needs.2 {
            let channels = l.channels, outer = l.outer
            let dw = Tensor(zeros: weight?.shape ?? [channels]), db = Tensor(zeros: bias?.shape ?? [channels])
            let pdw = dw.pointer, pdb = db.pointer
            parallelFor(channels, grain: 256) { range in
                for ch in range {
                    let gi = ch / cpr, c = ch % cpr
                    var a = 0.0, b = 0.0
                    for n in 0..<outer {
                        let r = n * groups + gi
                        a += Double(pa[r * cpr + c])
                        b += Double(pr[r]) * Double(pbB[r * cpr + c])
                    }
                    pdw[ch] = Float(b)
                    pdb[ch] = Float(a)
                }
            }
            if needs.1 { result.weight = dw }
            if needs.2 { result.bias = db }
        }
        withExtendedLifetime((x, g, weight, sumA, sumB, stats)) {}
        return result
    }
}
