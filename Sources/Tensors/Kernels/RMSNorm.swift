// RMS-style normalization along one axis, with a per-position weight along that axis:
//   .meanSquare: y = x / sqrt(mean(x², axis) + eps) · w            (nn.RMSNorm, T5/LLaMA)
//   .l2Scaled:   y = x / max(‖x‖₂, eps) · sqrt(A) · w               (denoising-diffusion-pytorch's
//                RMSNorm: F.normalize(x, dim=1) · g · sqrt(C); use eps 1e-12 to match it exactly)
// Both are y = x · f(q) · w with q = Σ_axis x², so they share one kernel and one backward.
// Layout: x viewed as [outer, A, inner] (A = the normalized axis); work items are (outer, block
// of 256 inner columns), each owned by one thread; column sums in Double. Naive twin in
// `Naive/Normalization+Naive.swift`.

/// Which RMS normalization ``CPU/rmsNorm(_:axis:weight:eps:kind:into:)`` computes.
public enum RMSNormKind: Sendable, Hashable, CaseIterable {
    /// x / sqrt(mean(x²) + eps)
    case meanSquare
    /// x / max(‖x‖₂, eps) · sqrt(A), A the axis length
    case l2Scaled
}

extension CPU {
    /// RMS normalization along `axis` (see ``RMSNormKind``).
    /// - Parameters:
    ///   - x: any shape; `axis` may be negative
    ///   - weight: `[A]` (A = x.shape[axis]) broadcast along the other axes, or nil
    ///   - out: x's shape, or nil to allocate; must not overlap `x` or `weight`
    /// - Returns: x's shape
    public func rmsNorm(_ x: Tensor, axis: Int, weight: Tensor? = nil, eps: Float = 1e-6,
                        kind: RMSNormKind = .meanSquare, into out: Tensor? = nil) throws -> Tensor {
        let (outer, len, inner) = try rmsLayout(x, axis: axis, weight: weight, op: "rmsNorm")
        let out = try Tensor.output(out, shape: x.shape, op: "rmsNorm")  // every element is written
        let px = x.pointer, py = out.pointer, pw = weight?.pointer
        rmsItems(outer: outer, inner: inner) { o, i0, i1, f in
            rmsFactors(px, o: o, len: len, inner: inner, i0, i1, eps: eps, kind: kind, f)
            for a in 0..<len {
                let w = pw?[a] ?? 1, base = (o * len + a) * inner + i0
                for i in 0..<(i1 - i0) { py[base + i] = px[base + i] * (f[i] * w) }
            }
        }
        withExtendedLifetime((x, weight, out)) {}
        return out
    }

    /// Gradients of ``rmsNorm`` for `grad` (x's shape): input, and weight when given.
    public func rmsNormBackward(_ x: Tensor, grad: Tensor, axis: Int, weight: Tensor?, eps: Float = 1e-6,
                                kind: RMSNormKind = .meanSquare) throws -> LayerGradients {
        let (outer, len, inner) = try rmsLayout(x, axis: axis, weight: weight, op: "rmsNormBackward")
        guard grad.shape == x.shape else {
            throw TensorError.shapeMismatch(op: "rmsNormBackward", x.shape, grad.shape, detail: "grad must match x")
        }
        let blocks = (inner + 255) / 256, items = outer * blocks
        let dx = Tensor(zeros: x.shape), partial = Tensor(zeros: [items, len])
        let px = x.pointer, pg = grad.pointer, pdx = dx.pointer, pw = weight?.pointer, pp = partial.pointer
        let s2 = Float(len)
        rmsItems(outer: outer, inner: inner) { o, i0, i1, f in
            rmsFactors(px, o: o, len: len, inner: inner, i0, i1, eps: eps, kind: kind, f)
            let n = i1 - i0, item = o * blocks + i0 / 256
            // t[i] = Σ_a w·dy·x ; dw partial[a] = Σ_i dy·x·f
            var t = [Double](repeating: 0, count: n)
            for a in 0..<len {
                let w = Double(pw?[a] ?? 1), base = (o * len + a) * inner
                var dwa = 0.0
                for i in i0..<i1 {
                    let gx = Double(pg[base + i]) * Double(px[base + i])
                    t[i - i0] += w * gx
                    dwa += gx * Double(f[i - i0])
                }
                pp[item * len + a] = Float(dwa)
            }
            // dx = f·w·dy + x·f'(q)·2·t with 2f'(q) = -f³/A (meanSquare, and l2 when not clamped).
            for i in 0..<n {
                let fi = Double(f[i])
                let clamped = kind == .l2Scaled && f[256 + i] != 0
                t[i] = clamped ? 0 : -fi * fi * fi / Double(s2) * t[i]
            }
            for a in 0..<len {
                let w = pw?[a] ?? 1, base = (o * len + a) * inner
                for i in i0..<i1 {
                    pdx[base + i] = f[i - i0] * w * pg[base + i] + px[base + i] * Float(t[i - i0])
                }
            }
        }
        var result = LayerGradients(input: dx)
        if let weight {
            let dw = Tensor(zeros: weight.shape), pdw = dw.pointer
            for a in 0..<len {
                var acc = 0.0
                for item in 0..<items { acc += Double(pp[item * len + a]) }
                pdw[a] = Float(acc)
            }
            result.weight = dw
        }
        withExtendedLifetime((x, grad, weight, partial)) {}
        return result
    }

    func rmsLayout(_ x: Tensor, axis: Int, weight: Tensor?, op: String) throws -> (Int, Int, Int) {
        let ax = try x.shape.axis(axis, op: op)
        let len = x.shape[ax]
        if let weight, weight.shape != [len] {
            throw TensorError.shapeMismatch(op: op, x.shape, weight.shape, detail: "weight must be [\(len)] (x.shape[\(axis)])")
        }
        return (x.shape.product(0..<ax), len, x.shape.product((ax + 1)..<x.rank))
    }

    /// Runs `body(o, i0, i1, scratch)` for every (outer, 256-column block) in parallel; scratch
    /// holds 512 floats per call (factor f in [0, 256), clamp flags in [256, 512)).
    func rmsItems(outer: Int, inner: Int, _ body: (Int, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let blocks = (inner + 255) / 256
        parallelFor(outer * blocks, grain: 1) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 512)
            defer { scratch.deallocate() }
            for item in range {
                let o = item / blocks, i0 = (item % blocks) * 256
                body(o, i0, min(inner, i0 + 256), scratch)
            }
        }
    }
}

/// f[i - i0] = the factor of column i; f[256 + i - i0] = 1 where the l2 norm was clamped to eps.
@inline(__always) func rmsFactors(_ px: UnsafeMutablePointer<Float>, o: Int, len: Int, inner: Int, _ i0: Int, _ i1: Int,
                                  eps: Float, kind: RMSNormKind, _ f: UnsafeMutablePointer<Float>) {
    let n = i1 - i0
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 256) { buffer in
        let q = buffer.baseAddress!  // column sums of squares, on the stack (no allocation per block)
        q.update(repeating: 0, count: n)
        for a in 0..<len {
            let row = px + (o * len + a) * inner + i0
            for i in 0..<n { let v = Double(row[i]); q[i] += v * v }
        }
        let scale = Double(len).squareRoot()
        for i in 0..<n {
            switch kind {
            case .meanSquare:
                f[i] = Float(1 / (q[i] / Double(len) + Double(eps)).squareRoot())
                f[256 + i] = 0
            case .l2Scaled:
                let norm = q[i].squareRoot()
                let clamped = norm <= Double(eps)
                f[i] = Float(scale / max(norm, Double(eps)))
                f[256 + i] = clamped ? 1 : 0
            }
        }
    }
}
