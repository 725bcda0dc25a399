// Naive twins of the elementwise kernels: per-element index arithmetic, no coalescing; the
// activations without a libm twin (softplus, mish, hard swish, the parametric ones) in Double
// straight from their definitions.

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
            case .softplus: out.pointer[i] = Float(softplus(Double(v)))
            case .mish: out.pointer[i] = Float(Double(v) * Foundation.tanh(softplus(Double(v))))
            case .hardSwish: out.pointer[i] = Float(Double(v) * min(max(Double(v) + 3, 0), 6) / 6)
            default: out.pointer[i] = op.apply(v)
            }
        }
        return out
    }

    /// log(1 + eˣ) in Double, by its definition (eˣ overflows only past x ≈ 709).
    static func softplus(_ x: Double) -> Double { x > 30 ? x + Foundation.exp(-x) : Foundation.log(1 + Foundation.exp(x)) }

    /// `op(x)` elementwise, each activation from its ONNX definition in Double.
    public static func unary(_ op: ParametricUnaryOp, _ x: Tensor) -> Tensor {
        let out = Tensor(zeros: x.shape)
        for i in 0..<x.count {
            let v = Double(x.pointer[i])
            let y: Double
            switch op {
            case .leakyRelu(let alpha): y = v < 0 ? Double(alpha) * v : v
            case .elu(let alpha): y = v < 0 ? Double(alpha) * (Foundation.exp(v) - 1) : v
            case .celu(let alpha): y = max(0, v) + min(0, Double(alpha) * (Foundation.exp(v / Double(alpha)) - 1))
            case let .selu(alpha, gamma): y = v > 0 ? Double(gamma) * v : Double(gamma) * (Double(alpha) * Foundation.exp(v) - Double(alpha))
            case let .hardSigmoid(alpha, beta): y = max(0, min(1, Double(alpha) * v + Double(beta)))
            }
            out.pointer[i] = Float(y)
        }
        return out
    }
}
