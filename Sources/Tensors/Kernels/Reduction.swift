// Reductions over arbitrary axes: sum, mean, variance. Accumulation is in Double in a fixed
// order (each output element is owned by one thread), so results are exact to float rounding
// and identical for any thread count. Normalization layers have their own fused kernels; these
// serve losses, statistics and the gradients of broadcasting ops. Naive twin in `Naive/`.

extension CPU {
    /// Sum over `axes` (negative allowed).
    /// - Parameters:
    ///   - out: the result's shape, or nil to allocate; must not overlap `x`
    /// - Returns: `x.shape` with those axes set to 1 when `keepDims`, removed otherwise.
    public func sum(_ x: Tensor, axes: [Int], keepDims: Bool = false, into out: Tensor? = nil) throws -> Tensor {
        try reduce(x, axes: axes, keepDims: keepDims, op: "sum", into: out) { acc, _ in acc }
    }

    /// Mean over `axes`; shapes and `out` as ``sum(_:axes:keepDims:into:)``.
    public func mean(_ x: Tensor, axes: [Int], keepDims: Bool = false, into out: Tensor? = nil) throws -> Tensor {
        try reduce(x, axes: axes, keepDims: keepDims, op: "mean", into: out) { acc, n in acc / Double(max(n, 1)) }
    }

    /// Variance over `axes`: Σ(x - mean)² / (n - correction); correction 0 is the population
    /// variance (normalization layers), 1 the unbiased estimate (`torch.var` default).
    public func variance(_ x: Tensor, axes: [Int], correction: Int = 0, keepDims: Bool = false) throws -> Tensor {
        let m = try mean(x, axes: axes, keepDims: true)
        let d = try sub(x, m)
        let sq = try mul(d, d)
        return try reduce(sq, axes: axes, keepDims: keepDims, op: "variance") { acc, n in
            acc / Double(max(n - correction, 1))
        }
    }

    /// Sum of all elements, as a rank-0 tensor.
    public func sumAll(_ x: Tensor) -> Tensor {
        var acc = 0.0
        let p = x.pointer
        for i in 0..<x.count { acc += Double(p[i]) }
        withExtendedLifetime(x) {}
        return Tensor(scalar: Float(acc))
    }

    /// Sums `x` down to `shape`, the inverse of broadcasting `shape` up to `x.shape` (the
    /// gradient of a broadcast input).
    public func sum(_ x: Tensor, toShape shape: Shape) throws -> Tensor {
        if x.shape == shape { return x }
        let shift = x.rank - shape.rank
        guard shift >= 0 else { throw TensorError.shapeMismatch(op: "sumToShape", x.shape, shape) }
        var axes: [Int] = Array(0..<shift)
        for i in 0..<shape.rank where shape[i] != x.shape[i + shift] {
            guard shape[i] == 1 else { throw TensorError.shapeMismatch(op: "sumToShape", x.shape, shape) }
            axes.append(i + shift)
        }
        return try sum(x, axes: axes, keepDims: true).reshaped(shape)
    }

    private func reduce(_ x: Tensor, axes: [Int], keepDims: Bool, op: String, into out: Tensor? = nil,
                        finish: (Double, Int) -> Double) throws -> Tensor {
        var reduced = [Bool](repeating: false, count: x.rank)
        for a in axes { reduced[try x.shape.axis(a, op: op)] = true }
        var kept = Shape(), keptShape = Shape()
        for i in 0..<x.rank {
            if reduced[i] { if keepDims { keptShape.append(1) } } else { keptShape.append(x.shape[i]); kept.append(i) }
        }
        // Output element k covers all reduced coordinates; enumerate reduced offsets once.
        let strides = x.shape.contiguousStrides
        var reducedOffsets: [Int] = [0]
        for i in 0..<x.rank where reduced[i] {
            var next: [Int] = []
            next.reserveCapacity(reducedOffsets.count * x.shape[i])
            for base in reducedOffsets { for c in 0..<x.shape[i] { next.append(base + c * strides[i]) } }
            reducedOffsets = next
        }
        let n = reducedOffsets.count
        let out = try Tensor.output(out, shape: keptShape, op: op)  // every element is written
        let outCount = out.count
        let px = x.pointer, po = out.pointer
        reducedOffsets.withUnsafeBufferPointer { offs in
            parallelFor(outCount, grain: max(1, 4096 / max(n, 1))) { range in
                for k in range {
                    var rem = k, base = 0
                    for j in stride(from: kept.rank - 1, through: 0, by: -1) {
                        let axis = kept[j], d = x.shape[axis]
                        base += (rem % d) * strides[axis]
                        rem /= d
                    }
                    var acc = 0.0
                    for o in offs { acc += Double(px[base + o]) }
                    po[k] = Float(finish(acc, n))
                }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }
}
