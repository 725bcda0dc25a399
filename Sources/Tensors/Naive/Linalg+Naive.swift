// Naive twins of GEMM-based and reduction kernels: triple loops and per-element index math.

extension Naive {
    /// Batched matmul with broadcasting by explicit loops. Shapes as ``CPU/matmul(_:_:transposeA:transposeB:into:)``.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        let batch = try broadcastShapes(Shape(a.shape.prefix(a.rank - 2)), Shape(b.shape.prefix(b.rank - 2)), op: "matmul")
        var outShape = batch
        outShape.append(m); outShape.append(n)
        let out = Tensor(zeros: outShape)
        let ia = BroadcastIndex(from: Shape(a.shape.prefix(a.rank - 2)), to: batch)
        let ib = BroadcastIndex(from: Shape(b.shape.prefix(b.rank - 2)), to: batch)
        for bi in 0..<batch.elementCount {
            let pa = a.pointer + ia.sourceOffset(bi) * m * k, pb = b.pointer + ib.sourceOffset(bi) * k * n
            for i in 0..<m {
                for j in 0..<n {
                    var acc = 0.0
                    for p in 0..<k {
                        let av = transposeA ? pa[p * m + i] : pa[i * k + p]
                        let bv = transposeB ? pb[j * k + p] : pb[p * n + j]
                        acc += Double(av) * Double(bv)
                    }
                    out.pointer[bi * m * n + i * n + j] = Float(acc)
                }
            }
        }
        return out
    }

    /// Sum over `axes` with kept dims, by visiting every input element once.
    public static func sum(_ x: Tensor, axes: [Int], keepDims: Bool) -> Tensor {
        var outShape = x.shape
        let reduced = Set(axes.map { x.shape.normalizedAxis($0)! })
        for a in reduced { outShape[a] = 1 }
        let acc = [Double](repeating: 0, count: outShape.elementCount)
        var sums = acc
        let outStrides = outShape.contiguousStrides
        for i in 0..<x.count {
            var rem = i, o = 0
            for d in stride(from: x.rank - 1, through: 0, by: -1) {
                let c = rem % x.shape[d]
                rem /= x.shape[d]
                if !reduced.contains(d) { o += c * outStrides[d] }
            }
            sums[o] += Double(x.pointer[i])
        }
        let kept = keepDims ? outShape : Shape((0..<x.rank).filter { !reduced.contains($0) }.map { x.shape[$0] })
        return Tensor(shape: kept, scalars: sums.map { Float($0) })
    }
}
