// Tape+Layout: the layout op family on the tape (concat, split, slice, pad, permute, reshape,
// expand, take) and its backward rules. Every rule moves gradients without arithmetic except pad
// (reflect/edge add up mirrored positions) and expand (sums over broadcast axes).
// `split` records one slice node per output, so gradients of several used outputs accumulate
// in the tape like any fan-out. Kernels live in `Kernels/Layout.swift`.

/// Differentiable layout ops with their parameters.
enum LayoutOp {
    /// Inputs joined along `axis`; `sizes[i]` is input i's extent on that axis.
    case concat(axis: Int, sizes: [Int])
    case slice(axis: Int, start: Int, end: Int, step: Int)
    case pad([PadWidth], PadMode)
    /// Output axis i = input axis `perm[i]` (normalized).
    case permute([Int])
    /// A view with another shape; the gradient is reshaped back.
    case reshape
    /// Broadcast to the output shape; the gradient is summed back.
    case expand
    /// Output element i = input element `indices[i]` (any gather, tile, strided or reversed
    /// slice); the gradient is scatter-added back.
    case take([Int])
}

extension LayoutOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, g = c.grad, x = c.inputs[0]
        switch self {
        case let .concat(axis, sizes):
            let parts = try cpu.split(g, axis: axis, sizes: sizes)
            return parts.enumerated().map { c.needsGrad[$0.offset] ? $0.element : nil }
        case let .slice(axis, start, end, step):
            return [try cpu.sliceBackward(g, inputShape: x.shape, axis: axis, start: start, end: end, step: step)]
        case let .pad(pads, mode):
            return [try cpu.padBackward(g, inputShape: x.shape, pads: pads, mode: mode)]
        case .permute(let perm):
            var inverse = perm
            for (i, p) in perm.enumerated() { inverse[p] = i }
            return [try cpu.permute(g, inverse)]
        case .reshape:
            return [try g.reshaped(x.shape)]
        case .expand:
            return [try cpu.sum(g, toShape: x.shape)]
        case .take(let indices):
            let dx = Tensor(zeros: x.shape)
            for (i, j) in indices.enumerated() { dx.pointer[j] += g.pointer[i] }
            withExtendedLifetime(g) {}
            return [dx]
        }
    }
}

extension Tape {
    /// A tensor of `shape` whose element i is `x`'s element `indices[i]` (flat, row-major): the
    /// one differentiable form of every pure data-movement op (gather, tile, strided slices).
    public func take(_ x: Var, indices: [Int], shape: Shape) throws -> Var {
        let source = self[x]
        guard indices.count == shape.elementCount, indices.allSatisfy({ $0 >= 0 && $0 < source.count }) else {
            throw TensorError.invalidArgument(op: "take", "\(indices.count) indices into \(source.shape) for shape \(shape)")
        }
        let out = Tensor(uninitialized: shape)
        for (i, j) in indices.enumerated() { out.pointer[i] = source.pointer[j] }
        withExtendedLifetime(source) {}
        return record(out, .layout(.take(indices)), [x])
    }

    /// `xs` joined along `axis` (see ``CPU/concat(_:axis:into:)``).
    public func concat(_ xs: [Var], axis: Int) throws -> Var {
        let values = xs.map { self[$0] }
        let out = try cpu.concat(values, axis: axis)
        let a = try out.shape.axis(axis, op: "concat")
        return record(out, .layout(.concat(axis: a, sizes: values.map { $0.shape[a] })), xs)
    }

    /// `x` cut along `axis` into pieces of `sizes`; each piece is a slice node.
    public func split(_ x: Var, axis: Int, sizes: [Int]) throws -> [Var] {
        let a = try splitAxis(self[x].shape, axis: axis, sizes: sizes)
        var offset = 0
        return try sizes.map { size in
            defer { offset += size }
            return try slice(x, axis: a, start: offset, end: offset + size)
        }
    }

    /// `x[..., start:end:step, ...]` on `axis` with Python/ONNX clamping (see ``CPU/slice(_:axis:start:end:step:into:)``).
    public func slice(_ x: Var, axis: Int, start: Int, end: Int, step: Int = 1) throws -> Var {
        let out = try cpu.slice(self[x], axis: axis, start: start, end: end, step: step)
        return record(out, .layout(.slice(axis: axis, start: start, end: end, step: step)), [x])
    }

    /// ONNX Pad (see ``CPU/pad(_:pads:mode:into:)``).
    public func pad(_ x: Var, pads: [PadWidth], mode: PadMode = .constant(0)) throws -> Var {
        record(try cpu.pad(self[x], pads: pads, mode: mode), .layout(.pad(pads, mode)), [x])
    }

    /// Axes reordered: output axis i = input axis `perm[i]`.
    public func permute(_ x: Var, _ perm: [Int]) throws -> Var {
        let p = try validatedPermutation(perm, for: self[x].shape, op: "permute")
        return record(try cpu.permute(self[x], p), .layout(.permute(p)), [x])
    }

    /// Axes `a` and `b` swapped.
    public func transpose(_ x: Var, _ a: Int, _ b: Int) throws -> Var {
        let shape = self[x].shape
        let i = try shape.axis(a, op: "transpose"), j = try shape.axis(b, op: "transpose")
        var perm = Array(0..<shape.rank)
        perm.swapAt(i, j)
        return try permute(x, perm)
    }

    /// `x` viewed with another shape of the same element count.
    public func reshape(_ x: Var, _ shape: Shape) throws -> Var {
        record(try self[x].reshaped(shape), .layout(.reshape), [x])
    }

    /// `x` broadcast (numpy rules) to `shape`, materialized.
    public func expand(_ x: Var, to shape: Shape) throws -> Var {
        record(try cpu.broadcast(self[x], to: shape), .layout(.expand), [x])
    }
}
