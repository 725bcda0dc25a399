// Tape+Attention: softmax / log-softmax along an axis and scaled dot-product attention on the
// tape, and their backward rules. Attention saves its probabilities P [..., Lq, Lk] in the
// payload; inputs are [q, k, v, mask?] (an additive mask gets dLogits summed to its shape).

/// Differentiable attention ops with their parameters and saved tensors.
enum AttentionOp {
    case softmax(axis: Int, log: Bool)
    case scaledDotProduct(scale: Float, hasMask: Bool, probabilities: Tensor)
}

extension AttentionOp {
    /// Gradients with respect to each input (see BackwardContext).
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu
        switch self {
        case let .softmax(axis, log):
            return [try cpu.softmaxBackward(output: c.output, grad: c.grad, axis: axis, log: log)]
        case let .scaledDotProduct(scale, hasMask, p):
            let (dq, dk, dv, dLogits) = try cpu.scaledDotProductAttentionBackward(
                c.inputs[0], c.inputs[1], c.inputs[2], probabilities: p, grad: c.grad, scale: scale)
            var out: [Tensor?] = [c.needsGrad[0] ? dq : nil, c.needsGrad[1] ? dk : nil, c.needsGrad[2] ? dv : nil]
            if hasMask { out.append(c.needsGrad[3] ? try cpu.sum(dLogits, toShape: c.inputs[3].shape) : nil) }
            return out
        }
    }
}

extension Tape {
    /// Softmax along `axis`.
    public func softmax(_ x: Var, axis: Int = -1) throws -> Var {
        record(try cpu.softmax(self[x], axis: axis), .attention(.softmax(axis: axis, log: false)), [x])
    }

    /// Log-softmax along `axis`.
    public func logSoftmax(_ x: Var, axis: Int = -1) throws -> Var {
        record(try cpu.logSoftmax(self[x], axis: axis), .attention(.softmax(axis: axis, log: true)), [x])
    }

    /// softmax(scale·q·kᵀ + mask)·v (see ``CPU/scaledDotProductAttention(_:_:_:scale:mask:into:)``).
    public func scaledDotProductAttention(_ q: Var, _ k: Var, _ v: Var, scale: Float? = nil, mask: Var? = nil) throws -> Var {
        let r = try cpu.attentionForward(self[q], self[k], self[v], scale: scale, mask: mask.map { self[$0] })
        return record(r.output, .attention(.scaledDotProduct(scale: r.scale, hasMask: mask != nil, probabilities: r.probabilities)),
                      [q, k, v] + (mask.map { [$0] } ?? []))
    }
}
