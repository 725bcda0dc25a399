// Naive twins of the layout kernels: one multi-index at a time, straight from the definitions
// (numpy concatenate / split / slicing / pad / transpose). No coalescing, no threads, no memcpy.
// Shape validation is shared with the fast kernels (same errors).

extension Naive {
    /// Row-major multi-index of linear index `i` in `shape`.
    static func multiIndex(_ i: Int, _ shape: Shape) -> [Int] {
        var idx = [Int](repeating: 0, count: shape.rank), rem = i
        for k in stride(from: shape.rank - 1, through: 0, by: -1) {
            idx[k] = rem % shape[k]
            rem /= shape[k]
        }
        return idx
    }

    /// Linear index of a multi-index in `shape`.
    static func linearIndex(_ idx: [Int], _ shape: Shape) -> Int {
        var off = 0
        for k in 0..<shape.rank { off = off * shape[k] + idx[k] }
        return off
    }

    /// `xs` joined along `axis`.
    public static func concat(_ xs: [Tensor], axis: Int) throws -> Tensor {
        let (shape, a) = try concatShape(xs, axis: axis)
        let out = Tensor(zeros: shape)
        var offset = 0
        for x in xs {
            for i in 0..<x.count {
                var idx = multiIndex(i, x.shape)
                idx[a] += offset
                out.pointer[linearIndex(idx, shape)] = x.pointer[i]
            }
            offset += x.shape[a]
        }
        return out
    }

    /// `x` cut along `axis` into `sizes`.
    public static func split(_ x: Tensor, axis: Int, sizes: [Int]) throws -> [Tensor] {
        let a = try splitAxis(x.shape, axis: axis, sizes: sizes)
        var offset = 0
        return sizes.map { size in
            defer { offset += size }
            return try! slice(x, axis: a, start: offset, end: offset + size, step: 1)
        }
    }

    /// Python-style `x[..., start:end:step, ...]` on `axis` (step ≥ 1).
    public static func slice(_ x: Tensor, axis: Int, start: Int, end: Int, step: Int) throws -> Tensor {
        let a = try x.shape.axis(axis, op: "slice")
        guard step >= 1 else { throw TensorError.invalidArgument(op: "slice", "step \(step) must be ≥ 1 (shape \(x.shape))") }
        let d = x.shape[a]
        // Python range semantics written out: negative → from the end, then clamp.
        var s = start < 0 ? start + d : start, e = end < 0 ? end + d : end
        s = min(max(s, 0), d); e = min(max(e, 0), d)
        var picks: [Int] = []
        var i = s
        while i < e { picks.append(i); i += step }
        let out = Tensor(zeros: x.shape.replacing(axis: a, with: picks.count))
        for j in 0..<out.count {
            var idx = multiIndex(j, out.shape)
            idx[a] = picks[idx[a]]
            out.pointer[j] = x.pointer[linearIndex(idx, x.shape)]
        }
        return out
    }

    /// Gradient of ``slice(_:axis:start:end:step:into:)`` by the adjoint of the definition.
    public static func sliceBackward(_ grad: Tensor, inputShape: Shape, axis: Int, start: Int, end: Int, step: Int) throws -> Tensor {
        let d = inputShape[try inputShape.axis(axis, op: "sliceBackward")]
        let a = try inputShape.axis(axis, op: "sliceBackward")
        var s = start < 0 ? start + d : start, e = end < 0 ? end + d : end
        s = min(max(s, 0), d); e = min(max(e, 0), d)
        let out = Tensor(zeros: inputShape)
        for j in 0..<grad.count {
            var idx = multiIndex(j, grad.shape)
            idx[a] = s + idx[a] * step
            precondition(idx[a] < e)
            out.pointer[linearIndex(idx, inputShape)] += grad.pointer[j]
        }
        return out
    }

    /// The source coordinate of padded coordinate `o` on an axis of length `d` (nil = constant).
    static func padSource(_ o: Int, dim d: Int, _ w: PadWidth, _ mode: PadMode) -> Int? {
        let lo = max(0, -w.before), n = d - lo - max(0, -w.after)
        var p = o - max(w.before, 0)  // position in the cropped axis
        if p >= 0 && p < n { return lo + p }
        switch mode {
        case .constant: return nil
        case .edge: return lo + min(max(p, 0), n - 1)
        case .reflect:
            if n == 1 { return lo }
            while p < 0 || p >= n { p = p < 0 ? -p : 2 * (n - 1) - p }  // mirror until inside
            return lo + p
        }
    }

    /// ONNX Pad of every axis by `pads` (negative widths crop).
    public static func pad(_ x: Tensor, pads: [PadWidth], mode: PadMode) throws -> Tensor {
        let shape = try padMaps(x.shape, pads: pads, mode: mode, op: "pad").map(\.count)
        let out = Tensor(zeros: Shape(shape))
        for j in 0..<out.count {
            var idx = multiIndex(j, out.shape), inside = true
            for k in 0..<x.rank {
                if let s = padSource(idx[k], dim: x.shape[k], pads[k], mode) { idx[k] = s } else { inside = false }
            }
            if inside { out.pointer[j] = x.pointer[linearIndex(idx, x.shape)] }
            else if case .constant(let v) = mode { out.pointer[j] = v }
        }
        return out
    }

    /// Gradient of ``pad(_:pads:mode:into:)``: each output gradient added at its source element.
    public static func padBackward(_ grad: Tensor, inputShape: Shape, pads: [PadWidth], mode: PadMode) -> Tensor {
        let out = Tensor(zeros: inputShape)
        for j in 0..<grad.count {
            var idx = multiIndex(j, grad.shape), inside = true
            for k in 0..<inputShape.rank {
                if let s = padSource(idx[k], dim: inputShape[k], pads[k], mode) { idx[k] = s } else { inside = false }
            }
            if inside { out.pointer[linearIndex(idx, inputShape)] += grad.pointer[j] }
        }
        return out
    }

    /// Output axis `i` = input axis `perm[i]`.
    public static func permute(_ x: Tensor, _ perm: [Int]) throws -> Tensor {
        let p = try validatedPermutation(perm, for: x.shape, op: "permute")
        let out = Tensor(zeros: Shape(p.map { x.shape[$0] }))
        for j in 0..<out.count {
            let oidx = multiIndex(j, out.shape)
            var idx = [Int](repeating: 0, count: x.rank)
            for i in 0..<p.count { idx[p[i]] = oidx[i] }
            out.pointer[j] = x.pointer[linearIndex(idx, x.shape)]
        }
        return out
    }
}
