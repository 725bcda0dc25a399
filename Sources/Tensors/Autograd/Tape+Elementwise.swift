// Tape+Elementwise: broadcasting binary ops, unary math/activations, affine, pow, clamp on the
// tape, and their backward rules. Broadcast inputs get their gradient summed back to shape.

import Foundation

/// Differentiable elementwise ops.
enum ElementwiseOp {
    case binary(BinaryOp)
    case unary(UnaryOp)
    case parametricUnary(ParametricUnaryOp)
    case affine(scale: Float)
    case pow(exponent: Float)
    case clamp(min: Float, max: Float)
}

extension ElementwiseOp {
    func backward(_ c: BackwardContext) throws -> [Tensor?] {
        let cpu = c.cpu, g = c.grad
        switch self {
        case .binary(let op):
            let a = c.inputs[0], b = c.inputs[1]
            var ga: Tensor?, gb: Tensor?
            switch op {
            case .add:
                ga = g; gb = g
            case .sub:
                ga = g; gb = c.needsGrad[1] ? cpu.affine(g, scale: -1) : nil
            case .mul:
                ga = c.needsGrad[0] ? try cpu.mul(g, b) : nil
                gb = c.needsGrad[1] ? try cpu.mul(g, a) : nil
            case .div:
                ga = c.needsGrad[0] ? try cpu.div(g, b) : nil
                // d(a/b)/db = -out / b
                gb = c.needsGrad[1] ? try cpu.mul(g, cpu.div(cpu.affine(c.output, scale: -1), b)) : nil
            case .pow:
                // d(a^b)/da = b a^(b-1); d(a^b)/db = out * log(a)
                ga = c.needsGrad[0] ? try cpu.mul(g, cpu.mul(b, cpu.binary(.pow, a, cpu.affine(b, scale: 1, shift: -1)))) : nil
                gb = c.needsGrad[1] ? try cpu.mul(g, cpu.mul(c.output, cpu.unary(.log, a))) : nil
            case .maximum, .minimum:
                // The gradient goes to the selected operand (to `a` on ties).
                let pick = try cpu.binary(.sub, a, b)  // sign decides
                let maskA = cpu.unaryMask(pick, selectPositive: op == .maximum)
                ga = c.needsGrad[0] ? try cpu.mul(g, maskA) : nil
                gb = c.needsGrad[1] ? try cpu.mul(g, cpu.affine(maskA, scale: -1, shift: 1)) : nil
            }
            return [try ga.map { try cpu.sum($0, toShape: a.shape) },
                    try gb.map { try cpu.sum($0, toShape: b.shape) }]
        case .unary(let op):
            return [cpu.unaryBackward(op, x: c.inputs[0], y: c.output, grad: g)]
        case .parametricUnary(let op):
            return [cpu.unaryBackward(op, x: c.inputs[0], y: c.output, grad: g)]
        case .affine(let scale):
            return [cpu.affine(g, scale: scale)]
        case .pow(let p):
            let dx = cpu.affine(cpu.pow(c.inputs[0], p - 1), scale: p)
            return [try cpu.mul(g, dx)]
        case .clamp(let low, let high):
            let x = c.inputs[0]
            let out = Tensor(zeros: x.shape)
            for i in 0..<x.count { out.pointer[i] = (x.pointer[i] >= low && x.pointer[i] <= high) ? g.pointer[i] : 0 }
            return [out]
        }
    }
}

extension CPU {
    /// 1 where `x` > 0 (or ≥ 0 when selecting ties for maximum) else 0; for min/max gradients.
    func unaryMask(_ x: Tensor, selectPositive: Bool) -> Tensor {
        let out = Tensor(zeros: x.shape)
        for i in 0..<x.count {
            let v = x.pointer[i]
            out.pointer[i] = (selectPositive ? v >= 0 : v <= 0) ? 1 : 0
        }
        return out
    }
}

extension Tape {
    /// `op(a, b)` with broadcasting.
    public func binary(_ op: BinaryOp, _ a: Var, _ b: Var) throws -> Var {
        record(try cpu.binary(op, self[a], self[b]), .elementwise(.binary(op)), [a, b])
    }
    public func add(_ a: Var, _ b: Var) throws -> Var { try binary(.add, a, b) }
    public func sub(_ a: Var, _ b: Var) throws -> Var { try binary(.sub, a, b) }
    public func mul(_ a: Var, _ b: Var) throws -> Var { try binary(.mul, a, b) }
    public func div(_ a: Var, _ b: Var) throws -> Var { try binary(.div, a, b) }

    /// `op(x)` elementwise (math functions and activations).
    public func unary(_ op: UnaryOp, _ x: Var) -> Var {
        record(cpu.unary(op, self[x]), .elementwise(.unary(op)), [x])
    }
    /// `op(x)` elementwise for an activation with parameters (leaky ReLU, ELU, …).
    public func unary(_ op: ParametricUnaryOp, _ x: Var) -> Var {
        record(cpu.unary(op, self[x]), .elementwise(.parametricUnary(op)), [x])
    }
    public func relu(_ x: Var) -> Var { unary(.relu, x) }
    public func silu(_ x: Var) -> Var { unary(.silu, x) }
    public func gelu(_ x: Var, approximateTanh: Bool = false) -> Var { unary(approximateTanh ? .geluTanh : .gelu, x) }
    public func sigmoid(_ x: Var) -> Var { unary(.sigmoid, x) }
    public func tanh(_ x: Var) -> Var { unary(.tanh, x) }
    public func exp(_ x: Var) -> Var { unary(.exp, x) }
    public func log(_ x: Var) -> Var { unary(.log, x) }
    public func sqrt(_ x: Var) -> Var { unary(.sqrt, x) }
    public func sin(_ x: Var) -> Var { unary(.sin, x) }
    public func cos(_ x: Var) -> Var { unary(.cos, x) }
    public func erf(_ x: Var) -> Var { unary(.erf, x) }

    /// `x * scale + shift`.
    public func affine(_ x: Var, scale: Float, shift: Float = 0) -> Var {
        record(cpu.affine(self[x], scale: scale, shift: shift), .elementwise(.affine(scale: scale)), [x])
    }

    /// `x ** exponent` for a constant exponent.
    public func pow(_ x: Var, _ exponent: Float) -> Var {
        record(cpu.pow(self[x], exponent), .elementwise(.pow(exponent: exponent)), [x])
    }

    /// `min(max(x, low), high)`; the gradient passes where `low ≤ x ≤ high`.
    public func clamp(_ x: Var, min low: Float, max high: Float) -> Var {
        record(cpu.clamp(self[x], min: low, max: high), .elementwise(.clamp(min: low, max: high)), [x])
    }
}
