// Tape+Linalg: matmul (batched, broadcasting) and linear on the tape.

/// Differentiable matrix products.
enum LinalgOp {
    case matmul(transposeA: Bool, transposeB: Bool)
    case linear(hasBias: Bool)
}

extension LinalgOp {
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, g = c.grad
        switch self {
        case let .matmul(ta, tb):
            let a = c.inputs[0], b = c.inputs[1]
            var ga: Tensor?, gb: Tensor?
            if c.needsGrad[0] {
                // C = op(A) op(B): dop(A) = G op(B)^T; dA = dop(A) or its transpose.
                ga = ta ? try cpu.matmul(b, g, transposeA: tb, transposeB: true)
                        : try cpu.matmul(g, b, transposeA: false, transposeB: !tb)
                ga = try cpu.sum(ga!, toShape: a.shape)
            }
            if c.needsGrad[1] {
                gb = tb ? try cpu.matmul(g, a, transposeA: true, transposeB: ta)
                        : try cpu.matmul(a, g, transposeA: !ta, transposeB: false)
                gb = try cpu.sum(gb!, toShape: b.shape)
            }
            return [ga, gb]
        case let .linear(hasBias):
            let x = c.inputs[0], w = c.inputs[1]
            let outF = w.shape[0], inF = w.shape[1], rows = x.count / max(inF, 1)
            let g2 = try g.reshaped([rows, outF]), x2 = try x.reshaped([rows, inF])
            var result: [Tensor?] = []
            result.append(c.needsGrad[0] ? try cpu.matmul(g2, w).reshaped(x.shape) : nil)
            result.append(c.needsGrad[1] ? try cpu.matmul(g2, x2, transposeA: true) : nil)
            if hasBias { result.append(c.needsGrad[2] ? try cpu.sum(g2, axes: [0]) : nil) }
            return result
        }
    }
}

extension Tape {
    /// Batched matrix product (see ``CPU/matmul(_:_:transposeA:transposeB:into:)``).
    public func matmul(_ a: Var, _ b: Var, transposeA: Bool = false, transposeB: Bool = false) throws -> Var {
        record(try cpu.matmul(self[a], self[b], transposeA: transposeA, transposeB: transposeB),
               .linalg(.matmul(transposeA: transposeA, transposeB: transposeB)), [a, b])
    }

    /// `x [..., in] · weight[out, in]ᵀ + bias[out]`.
    public func linear(_ x: Var, weight: Var, bias: Var?) throws -> Var {
        let value = try cpu.linear(self[x], weight: self[weight], bias: bias.map { self[$0] })
        return record(value, .linalg(.linear(hasBias: bias != nil)), bias.map { [x, weight, $0] } ?? [x, weight])
    }
}
