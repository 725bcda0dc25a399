// Naive twins of the elementwise kernels: per-element index arithmetic, no coalescing.

import Foundation

extension Naive {
    /// `op(a, b)` with numpy broadcasting, one multi-index at a time.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShapes(a.shape, b.shape, op: op.rawValue)
        let out = Tensor(zeros: shape)
        let ia = BroadcastIndex(from: a.shape, to: shape), ib = BroadcastIndex(from: b.shape, to: shape)
        for i in 0..<out.count {
            out.pointer[i] = op.apply(a.pointer[ia.sourceOffset(i)], b.pointer[ib.sourceOffset(i)])
        }
        return out
    }

    /// `op(x)` elementwise.
    public static func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        let out = Tensor(zeros: x.shape)
        for i in 0..<x.count {
            let v = x.pointer[i]
            switch op {  // libm where the fast kernels use their own polynomial
            case .exp: out.pointer[i] = Foundation.exp(v)
            case .sigmoid: out.pointer[i] = 1 / (1 + Foundation.exp(-v))
            case .silu: out.pointer[i] = v / (1 + Foundation.exp(-v))
            default: out.pointer[i] = op.apply(v)
            }
        }
        return out
    }
}
