// Attention kernels: softmax / log-softmax along an axis (max-subtracted, vectorized exp) and
// scaled dot-product attention softmax(scale·q·kᵀ + mask)·v with its backward.
// Layout: q [..., Lq, D], k [..., Lk, D], v [..., Lk, Dv] with equal leading (batch, head) axes;
// the additive mask broadcasts to [..., Lq, Lk]. The forward splits every (head, block of 64
// query rows) over the threads; each computes its scores, row softmax and product with v in
// cache with our single-threaded GEMM (`sgemm(…, threads: 1)`). The backward splits the (batch,
// head) pairs over the threads the same way (their GEMMs and row softmax gradients in turn), or,
// with fewer pairs than threads, splits each GEMM and the rows instead. Each element is one FMA
// chain and each row is owned by one thread, so results are bit-identical for any thread count.
// No flash-style tiling: the probabilities [..., Lq, Lk] are materialized (and kept for the
// backward). Naive twins in `Naive/Attention+Naive.swift`; tape rules in `Tape+Attention.swift`.

import CKernels
import Foundation

/// Max-subtracted softmax of `n` values at `src` (times `scale`, plus `mask[j·maskStride]` when
/// given) into `dst` (may alias `src`); with `log`, log-softmax.
@inline(__always) func softmaxRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                                  scale: Float = 1, mask: UnsafePointer<Float>? = nil, maskStride: Int = 1,
                                  log: Bool = false) {
    if n == 0 { return }
    // logits into dst
    if scale != 1 || mask != nil {
        for j in 0..<n { dst[j] = src[j] * scale + (mask?[j * maskStride] ?? 0) }
    } else if UnsafePointer(dst) != src {
        dst.update(from: src, count: n)
    }
    dn_softmax_row(dst, n, log ? 1 : 0)
}

extension CPU {
    /// Softmax along `axis` (numerically stable: the row maximum is subtracted first).
    /// - Parameters:
    ///   - x: any shape; `axis` may be negative
    ///   - out: x's shape, or nil to allocate; must not overlap `x`
    public func softmax(_ x: Tensor, axis: Int = -1, into out: Tensor? = nil) throws -> Tensor {
        try softmaxAlong(x, axis: axis, log: false, op: "softmax", into: out)
    }

    /// log(softmax(x)) along `axis`, computed as x − max − log Σ exp(x − max).
    public func logSoftmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
        try softmaxAlong(x, axis: axis, log: true, op: "logSoftmax")
    }

    /// Gradient of ``softmax`` (or ``logSoftmax`` when `log`) given its output `y` and `grad`:
    /// softmax: y ⊙ (g − Σ g⊙y); log-softmax: g − exp(y) · Σ g.
    public func softmaxBackward(output y: Tensor, grad: Tensor, axis: Int = -1, log: Bool = false) throws -> Tensor {
        let op = log ? "logSoftmaxBackward" : "softmaxBackward"
        guard y.shape == grad.shape else { throw TensorError.shapeMismatch(op: op, y.shape, grad.shape, detail: "grad must match output") }
        let ax = try y.shape.axis(axis, op: op)
        let len = y.shape[ax], inner = y.shape.product((ax + 1)..<y.rank), outer = y.shape.product(0..<ax)
        let out = Tensor(zeros: y.shape)
        let py = y.pointer, pg = grad.pointer, po = out.pointer
        parallelFor(outer * inner, grain: max(1, 4096 / max(len, 1))) { range in
            for item in range {
                let base = (item / inner) * len * inner + item % inner
                var dot = 0.0
                for a in 0..<len {
                    let k = base + a * inner
                    dot += log ? Double(pg[k]) : Double(pg[k]) * Double(py[k])
                }
                let d = Float(dot)
                for a in 0..<len {
                    let k = base + a * inner
                    po[k] = log ? pg[k] - Foundation.exp(py[k]) * d : py[k] * (pg[k] - d)
                }
            }
        }
        withExtendedLifetime((y, grad)) {}
        return out
    }

    func softmaxAlong(_ x: Tensor, axis: Int, log: Bool, op: String, into out: Tensor? = nil) throws -> Tensor {
        let ax = try x.shape.axis(axis, op: op)
        let len = x.shape[ax], inner = x.shape.product((ax + 1)..<x.rank), outer = x.shape.product(0..<ax)
        let out = try Tensor.output(out, shape: x.shape, op: op)  // every row is written
        let px = x.pointer, po = out.pointer
        if inner == 1 {
            parallelFor(outer, grain: max(1, 4096 / max(len, 1))) { rows in
                for r in rows { softmaxRow(px + r * len, po + r * len, len, log: log) }
            }
        } else {
            // Strided: softmax down the columns of each [len, inner] block, whole rows at a time
            // (vectorized along the contiguous inner axis), in column bands of at most 1024.
            let band = min(inner, 1024), bands = (inner + band - 1) / band
            parallelFor(outer * bands, grain: max(1, 16384 / max(len * band, 1))) { range in
                let scratch = Scratch.buffer(slot: 0, count: 3 * band + 1)
                let block = Scratch.buffer(slot: 1, count: len * band)
                for item in range {
                    let base = (item / bands) * len * inner, first = (item % bands) * band, width = min(band, inner - first)
                    for a in 0..<len { (block + a * width).update(from: px + base + a * inner + first, count: width) }
                    dn_softmax_columns(block, len, width, log ? 1 : 0, scratch)
                    for a in 0..<len { (po + base + a * inner + first).update(from: block + a * width, count: width) }
                }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// Scaled dot-product attention: softmax(scale · q·kᵀ + mask) · v. Without a mask it runs in
    /// blocks of 64 query rows per thread (scores, softmax and the product with v while the block's
    /// scores are in cache; no full score matrix); with a mask it takes the training path.
    /// - Parameters:
    ///   - q: `[..., Lq, D]` (typically `[B, H, Lq, D]`)
    ///   - k: `[..., Lk, D]`, or `[..., D, Lk]` when `keyTransposed` (as exporters write q·kᵀ)
    ///   - v: `[..., Lk, Dv]`
    ///   - scale: default 1/sqrt(D)
    ///   - mask: additive, broadcastable to `[..., Lq, Lk]` (e.g. `[Lq, Lk]`), or nil
    ///   - out: `[..., Lq, Dv]`, or nil to allocate; must not overlap any input
    /// - Returns: `[..., Lq, Dv]`
    public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
                                          mask: Tensor? = nil, keyTransposed: Bool = false,
                                          into out: Tensor? = nil) throws -> Tensor {
        let op = "scaledDotProductAttention"
        if let mask {
            guard !keyTransposed else { throw TensorError.invalidArgument(op: op, "a mask needs k as [..., Lk, D]") }
            return try attentionForward(q, k, v, scale: scale, mask: mask, into: out).output
        }
        let key = keyTransposed ? try k.reshaped(transposedLastTwo(k.shape)) : k  // for the shape checks only
        let dims = try attentionDims(q, key, v, mask: nil, op: op)
        let (lq, lk, dk, dv, batch) = (dims.lq, dims.lk, dims.d, dims.dv, dims.batch)
        let s = scale ?? 1 / Float(dk).squareRoot()
        let out = try Tensor.output(out, shape: dims.outShape, op: op)
        attentionBlocks(q, k, v, out, heads: batch, lq: lq, lk: lk, dk: dk, dv: dv, scale: s, keyTransposed: keyTransposed) { b in
            (q: b * lq * dk, k: b * lk * dk, v: b * lk * dv, out: b * lq * dv, rowStride: 1)
        }
        return out
    }

    /// ``scaledDotProductAttention(_:_:_:scale:mask:keyTransposed:into:)`` with the heads
    /// interleaved in each row, as a model's projections produce them before the head-split
    /// transposes: no transposes needed around it.
    /// - Parameters:
    ///   - q: `[B, Lq, H, D]`; k: `[B, Lk, H, D]`; v: `[B, Lk, H, Dv]`
    ///   - out: `[B, Lq, H, Dv]`, or nil to allocate; must not overlap any input
    /// - Returns: `[B, Lq, H, Dv]`: row (b, i), head h is attention of head h over q, k, v
    public func scaledDotProductAttentionInterleaved(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
                                                     into out: Tensor? = nil) throws -> Tensor {
        let op = "scaledDotProductAttentionInterleaved"
        guard q.rank == 4, k.rank == 4, v.rank == 4, k.shape[0] == q.shape[0], v.shape[0] == q.shape[0],
              k.shape[2] == q.shape[2], v.shape[2] == q.shape[2], k.shape[3] == q.shape[3], v.shape[1] == k.shape[1] else {
            throw TensorError.invalidArgument(op: op, "q [B, Lq, H, D], k [B, Lk, H, D], v [B, Lk, H, Dv] expected, got q \(q.shape), k \(k.shape), v \(v.shape)")
        }
        let (batch, lq, heads, dk) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]), (lk, dv) = (k.shape[1], v.shape[3])
        let out = try Tensor.output(out, shape: [batch, lq, heads, dv], op: op)
        attentionBlocks(q, k, v, out, heads: batch * heads, lq: lq, lk: lk, dk: dk, dv: dv,
                        scale: scale ?? 1 / Float(dk).squareRoot(), keyTransposed: false) { bh in
            let (b, h) = (bh / heads, bh % heads)
            return (q: (b * lq * heads + h) * dk, k: (b * lk * heads + h) * dk, v: (b * lk * heads + h) * dv,
                    out: (b * lq * heads + h) * dv, rowStride: heads)
        }
        return out
    }

    /// The blocked attention loop: for every head (offsets of its q, k, v and output, rows
    /// `rowStride` head-widths apart) and block of 64 query rows, one thread computes the scores,
    /// their softmax and the product with v while the block is in cache.
    private func attentionBlocks(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ out: Tensor, heads: Int, lq: Int, lk: Int, dk: Int, dv: Int,
                                 scale s: Float, keyTransposed: Bool,
                                 offsets: (Int) -> (q: Int, k: Int, v: Int, out: Int, rowStride: Int)) {
        let rowsPerBlock = 64, blocks = (lq + rowsPerBlock - 1) / rowsPerBlock
        let work = UncheckedSendable((q.pointer, k.pointer, v.pointer, out.pointer))
        parallelFor(heads * blocks) { units in
            let (pq, pk, pv, po) = work.value
            let scores = Scratch.buffer(slot: 0, count: rowsPerBlock * lk)
            for unit in units {
                let head = unit / blocks, first = (unit % blocks) * rowsPerBlock, rows = min(rowsPerBlock, lq - first)
                let o = offsets(head), (qs, vs) = (o.rowStride * dk, o.rowStride * dv)
                sgemm(transposeA: false, transposeB: !keyTransposed, m: rows, n: lk, k: dk, alpha: s,
                      a: pq + o.q + first * qs, lda: qs, b: pk + o.k, ldb: keyTransposed ? lk : qs,
                      c: scores, ldc: lk, threads: 1)
                for r in 0..<rows { softmaxRow(scores + r * lk, scores + r * lk, lk) }
                sgemm(transposeA: false, transposeB: false, m: rows, n: dv, k: lk, a: scores, lda: lk,
                      b: pv + o.v, ldb: vs, c: po + o.out + first * vs, ldc: vs, threads: 1)
            }
        }
        withExtendedLifetime((q, k, v, out)) {}
    }

    /// `shape` with its last two axes swapped.
    private func transposedLastTwo(_ shape: Shape) -> Shape {
        var t = shape
        if t.rank >= 2 { (t[t.rank - 1], t[t.rank - 2]) = (shape[shape.rank - 2], shape[shape.rank - 1]) }
        return t
    }

    /// Gradients of ``scaledDotProductAttention`` given the probabilities P `[..., Lq, Lk]` of
    /// the forward pass and `grad` `[..., Lq, Dv]`: (dq, dk, dv, dLogits) where dLogits
    /// `[..., Lq, Lk]` is also the gradient of an additive mask before summing to its shape.
    public func scaledDotProductAttentionBackward(_ q: Tensor, _ k: Tensor, _ v: Tensor, probabilities p: Tensor,
                                                  grad: Tensor, scale: Float) throws -> (Tensor, Tensor, Tensor, Tensor) {
        let d = try attentionDims(q, k, v, mask: nil, op: "scaledDotProductAttentionBackward")
        guard grad.shape == d.outShape, p.shape == d.scoreShape else {
            throw TensorError.shapeMismatch(op: "scaledDotProductAttentionBackward", grad.shape, p.shape,
                                            detail: "expected grad \(d.outShape) and probabilities \(d.scoreShape)")
        }
        let (lq, lk, dk, dv) = (d.lq, d.lk, d.d, d.dv)
        // Every output element is written by exactly one GEMM or row below: no zero fill.
        let gq = Tensor(uninitialized: q.shape), gk = Tensor(uninitialized: k.shape), gv = Tensor(uninitialized: v.shape)
        let ds = Tensor(uninitialized: p.shape)
        let work = UncheckedSendable((q.pointer, k.pointer, v.pointer, p.pointer, grad.pointer, ds.pointer,
                                      gq.pointer, gk.pointer, gv.pointer))
        // With a (batch, head) per thread at least, each thread runs whole heads with single-threaded
        // GEMMs (as the forward does); with fewer, heads go in turn with the GEMMs split over the threads.
        let inner = d.batch >= threads ? 1 : threads
        let heads = { (range: Range<Int>) in
            let (pq, pk, pv, pp, pg, pds, dq, dkk, dvv) = work.value
            for b in range {
                // dV = Pᵀ·dO ; dP = dO·Vᵀ
                sgemm(transposeA: true, transposeB: false, m: lk, n: dv, k: lq, a: pp + b * lq * lk, lda: lk,
                      b: pg + b * lq * dv, ldb: dv, c: dvv + b * lk * dv, ldc: dv, threads: inner)
                sgemm(transposeA: false, transposeB: true, m: lq, n: lk, k: dv, a: pg + b * lq * dv, lda: dv,
                      b: pv + b * lk * dv, ldb: dv, c: pds + b * lq * lk, ldc: lk, threads: inner)
                // dS = P ⊙ (dP − rowsum(dP ⊙ P))
                self.split(lq, inner: inner) { rows in
                    for r in rows {
                        let prow = pp + (b * lq + r) * lk, drow = pds + (b * lq + r) * lk
                        var acc = F16(), j = 0
                        while j + 16 <= lk { acc += load16(prow + j) * load16(drow + j); j += 16 }
                        var dot = Double(acc.sum())
                        while j < lk { dot += Double(prow[j]) * Double(drow[j]); j += 1 }
                        let t = Float(dot), vt = F16(repeating: t)
                        j = 0
                        while j + 16 <= lk { store16(load16(prow + j) * (load16(drow + j) - vt), drow + j); j += 16 }
                        while j < lk { drow[j] = prow[j] * (drow[j] - t); j += 1 }
                    }
                }
                // dQ = scale·dS·K ; dK = scale·dSᵀ·Q
                sgemm(transposeA: false, transposeB: false, m: lq, n: dk, k: lk, alpha: scale, a: pds + b * lq * lk, lda: lk,
                      b: pk + b * lk * dk, ldb: dk, c: dq + b * lq * dk, ldc: dk, threads: inner)
                sgemm(transposeA: true, transposeB: false, m: lk, n: dk, k: lq, alpha: scale, a: pds + b * lq * lk, lda: lk,
                      b: pq + b * lq * dk, ldb: dk, c: dkk + b * lk * dk, ldc: dk, threads: inner)
            }
        }
        if inner == 1 { parallelFor(d.batch, heads) } else { heads(0..<d.batch) }
        withExtendedLifetime((q, k, v, p, grad)) {}
        return (gq, gk, gv, ds)
    }

    struct AttentionDims {
        let batch: Int, lq: Int, lk: Int, d: Int, dv: Int
        let scoreShape: Shape, outShape: Shape
    }

    func attentionDims(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, op: String) throws -> AttentionDims {
        guard q.rank >= 2, k.rank == q.rank, v.rank == q.rank else {
            throw TensorError.invalidArgument(op: op, "q, k, v must have the same rank ≥ 2, got q \(q.shape), k \(k.shape), v \(v.shape)")
        }
        let r = q.rank
        let lead = Shape(q.shape.prefix(r - 2))
        guard Shape(k.shape.prefix(r - 2)) == lead, Shape(v.shape.prefix(r - 2)) == lead else {
            throw TensorError.shapeMismatch(op: op, q.shape, k.shape, detail: "batch axes of q, k, v differ (v \(v.shape))")
        }
        guard k.shape[r - 1] == q.shape[r - 1] else {
            throw TensorError.shapeMismatch(op: op, q.shape, k.shape, detail: "q and k head dims differ")
        }
        guard v.shape[r - 2] == k.shape[r - 2] else {
            throw TensorError.shapeMismatch(op: op, k.shape, v.shape, detail: "k and v sequence lengths differ")
        }
        var score = lead; score.append(q.shape[r - 2]); score.append(k.shape[r - 2])
        var outShape = lead; outShape.append(q.shape[r - 2]); outShape.append(v.shape[r - 1])
        if let mask {
            guard mask.rank <= r, (try? broadcastShapes(mask.shape, score, op: op)) == score else {
                throw TensorError.shapeMismatch(op: op, mask.shape, score, detail: "mask must broadcast to the scores")
            }
        }
        return AttentionDims(batch: lead.elementCount, lq: q.shape[r - 2], lk: k.shape[r - 2], d: q.shape[r - 1],
                             dv: v.shape[r - 1], scoreShape: score, outShape: outShape)
    }

    /// Forward pass keeping the probabilities. `interleaved` runs GEMM, softmax, GEMM per
    /// (batch, head) block instead of all GEMMs, one softmax sweep, all GEMMs (measured slower).
    func attentionForward(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float?, mask: Tensor?,
                          interleaved: Bool = false, into out: Tensor? = nil) throws -> (output: Tensor, probabilities: Tensor, scale: Float) {
        let op = "scaledDotProductAttention"
        let dims = try attentionDims(q, k, v, mask: mask, op: op)
        let (lq, lk, dk, dv, batch) = (dims.lq, dims.lk, dims.d, dims.dv, dims.batch)
        let s = scale ?? 1 / Float(dk).squareRoot()
        let out = try Tensor.output(out, shape: dims.outShape, op: op)  // sgemm with beta 0 writes every element
        let p = Tensor(zeros: dims.scoreShape)
        let pq = q.pointer, pk = k.pointer, pv = v.pointer, pp = p.pointer, po = out.pointer
        let maskIndex = mask.map { BroadcastIndex(from: $0.shape, to: dims.scoreShape) }
        let pmask = mask?.pointer
        let maskStride = (mask.map { $0.rank >= 1 && $0.shape[$0.rank - 1] != 1 } ?? false) ? 1 : 0
        let softmaxRows: (Range<Int>) -> Void = { rows in
            for r in rows {
                let row = pp + r * lk
                let m = pmask.map { UnsafePointer($0 + maskIndex!.sourceOffset(r * lk)) }
                softmaxRow(row, row, lk, mask: m, maskStride: maskStride)
            }
        }
        let grain = max(1, 4096 / max(lk, 1))
        if interleaved {
            for b in 0..<batch {
                sgemm(transposeA: false, transposeB: true, m: lq, n: lk, k: dk, alpha: s, a: pq + b * lq * dk, lda: dk,
                      b: pk + b * lk * dk, ldb: dk, c: pp + b * lq * lk, ldc: lk)
                parallelFor(lq, grain: grain) { rows in softmaxRows((b * lq + rows.lowerBound)..<(b * lq + rows.upperBound)) }
                sgemm(transposeA: false, transposeB: false, m: lq, n: dv, k: lk, a: pp + b * lq * lk, lda: lk,
                      b: pv + b * lk * dv, ldb: dv, c: po + b * lq * dv, ldc: dv)
            }
        } else {
            for b in 0..<batch {
                sgemm(transposeA: false, transposeB: true, m: lq, n: lk, k: dk, alpha: s, a: pq + b * lq * dk, lda: dk,
                      b: pk + b * lk * dk, ldb: dk, c: pp + b * lq * lk, ldc: lk)
            }
            parallelFor(batch * lq, grain: grain, softmaxRows)
            for b in 0..<batch {
                sgemm(transposeA: false, transposeB: false, m: lq, n: dv, k: lk, a: pp + b * lq * lk, lda: lk,
                      b: pv + b * lk * dv, ldb: dv, c: po + b * lq * dv, ldc: dv)
            }
        }
        withExtendedLifetime((q, k, v, mask, out)) {}
        return (out, p, s)
    }
}
