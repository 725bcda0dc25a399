// Elementwise kernels: broadcasting binary ops, unary math and activations, and their
// derivatives. Work is split across the CPU's threads by runs of the coalesced iteration plan;
// each element is computed independently, so results do not depend on the thread count.
// Naive twins: `Naive/Elementwise+Naive.swift`.

import CKernels
import Foundation

/// Binary elementwise ops (numpy broadcasting).
public enum BinaryOp: String, Sendable, CaseIterable, Codable {
    case add, sub, mul, div, pow, maximum, minimum

    @inline(__always) func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .pow: return Foundation.pow(a, b)
        case .maximum: return Swift.max(a, b)
        case .minimum: return Swift.min(a, b)
        }
    }
}

/// Unary elementwise ops: math functions and activations.
public enum UnaryOp: String, Sendable, CaseIterable, Codable {
    case neg, abs, exp, log, sqrt, sin, cos, erf, tanh, sigmoid, relu, silu, gelu, geluTanh, square, reciprocal

    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .exp: return fastExp(x)
        case .log: return Foundation.log(x)
        case .sqrt: return x.squareRoot()
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .erf: return Foundation.erf(x)
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return fastSigmoid(x)
        case .relu: return x > 0 ? x : 0
        case .silu: return x * fastSigmoid(x)
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x * 0.70710678118654752))
        case .geluTanh:
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + Foundation.tanh(u))
        case .square: return x * x
        case .reciprocal: return 1 / x
        }
    }

    /// d(op(x))/dx given the input `x` and output `y`.
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .neg: return -1
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .exp: return y
        case .log: return 1 / x
        case .sqrt: return 0.5 / y
        case .sin: return Foundation.cos(x)
        case .cos: return -Foundation.sin(x)
        case .erf: return 1.1283791670955126 * Foundation.exp(-x * x)
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        case .relu: return x > 0 ? 1 : 0
        case .silu:
            let s = 1 / (1 + Foundation.exp(-x))
            return s * (1 + x * (1 - s))
        case .gelu:
            let cdf = 0.5 * (1 + Foundation.erf(x * 0.70710678118654752))
            let pdf = 0.3989422804014327 * Foundation.exp(-0.5 * x * x)
            return cdf + x * pdf
        case .geluTanh:
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            let du = 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
        case .square: return 2 * x
        case .reciprocal: return -y * y
        }
    }
}

extension CPU {
    /// `op(a, b)` with numpy broadcasting. - Returns: the broadcast shape of `a` and `b`.
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShapes(a.shape, b.shape, op: op.rawValue)
        let out = Tensor(uninitialized: shape)
        let plan = StridedPlan(output: shape, a: a.shape, b: b.shape)
        let inner = plan.inner, pa = a.pointer, pb = b.pointer, po = out.pointer
        let sa = plan.strideA[plan.dims.rank - 1], sb = plan.strideB[plan.dims.rank - 1]
        parallelFor(plan.outer, grain: max(1, 16384 / max(inner, 1))) { runs in
            for r in runs {
                let (oa, ob) = plan.runOffsets(r)
                let x = pa + oa, y = pb + ob, z = po + r * inner
                switch op {
                case .add: binaryRun(inner, x, sa, y, sb, z) { $0 + $1 }
                case .sub: binaryRun(inner, x, sa, y, sb, z) { $0 - $1 }
                case .mul: binaryRun(inner, x, sa, y, sb, z) { $0 * $1 }
                case .div: binaryRun(inner, x, sa, y, sb, z) { $0 / $1 }
                default: binaryRun(inner, x, sa, y, sb, z) { op.apply($0, $1) }
                }
            }
        }
        withExtendedLifetime((a, b)) {}
        return out
    }

    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(.add, a, b) }
    public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(.sub, a, b) }
    public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(.mul, a, b) }
    public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(.div, a, b) }

    /// `op(x)` elementwise.
    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            // One loop per op so each specializes (and vectorizes where the math allows).
            switch op {
            case .neg: mapUnary(r, px, po) { -$0 }
            case .relu: mapUnary(r, px, po) { Swift.max($0, 0) }
            case .exp: dn_exp(px + r.lowerBound, po + r.lowerBound, r.count)
            case .sigmoid: dn_sigmoid(px + r.lowerBound, po + r.lowerBound, r.count)
            case .silu: dn_silu(px + r.lowerBound, po + r.lowerBound, r.count)
            case .square: mapUnary(r, px, po) { $0 * $0 }
            case .abs: mapUnary(r, px, po) { Swift.abs($0) }
            default: for i in r { po[i] = op.apply(px[i]) }
            }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// `grad * op'(x)` elementwise, given the forward input `x` and output `y`.
    public func unaryBackward(_ op: UnaryOp, x: Tensor, y: Tensor, grad: Tensor) -> Tensor {
        precondition(x.shape == grad.shape && y.shape == grad.shape, "unaryBackward(\(op)): \(x.shape) \(y.shape) \(grad.shape)")
        let out = Tensor(zeros: x.shape)
        let px = x.pointer, py = y.pointer, pg = grad.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            for i in r { po[i] = pg[i] * op.derivative(px[i], py[i]) }
        }
        withExtendedLifetime((x, y, grad)) {}
        return out
    }

    /// `x * scale + shift` elementwise.
    public func affine(_ x: Tensor, scale: Float, shift: Float = 0) -> Tensor {
        let out = Tensor(zeros: x.shape)
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 16384) { r in
            for i in r { po[i] = px[i] * scale + shift }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// `x ** exponent` elementwise.
    public func pow(_ x: Tensor, _ exponent: Float) -> Tensor {
        let out = Tensor(zeros: x.shape)
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            if exponent == 2 { for i in r { po[i] = px[i] * px[i] } }
            else { for i in r { po[i] = Foundation.pow(px[i], exponent) } }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// `min(max(x, low), high)` elementwise.
    public func clamp(_ x: Tensor, min low: Float, max high: Float) -> Tensor {
        let out = Tensor(zeros: x.shape)
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 16384) { r in
            for i in r { po[i] = Swift.min(Swift.max(px[i], low), high) }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// `x` repeated along broadcast axes to `shape` (numpy `broadcast_to`, materialized).
    public func broadcast(_ x: Tensor, to shape: Shape) throws -> Tensor {
        let target = try broadcastShapes(x.shape, shape, op: "broadcast")
        guard target == shape else {
            throw TensorError.shapeMismatch(op: "broadcast", x.shape, shape, detail: "cannot broadcast to the target")
        }
        return try binary(.add, Tensor(zeros: shape), x)
    }
}

/// `po[i] = f(px[i])` over `range`; inlined so that each call site specializes `f`.
@inline(__always)
func mapUnary(_ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>,
              _ f: (Float) -> Float) {
    for i in range { po[i] = f(px[i]) }
}

/// One contiguous output run of a broadcasting binary op; input strides are 0 or 1 (or general).
@inline(__always)
func binaryRun(_ n: Int, _ x: UnsafeMutablePointer<Float>, _ sa: Int, _ y: UnsafeMutablePointer<Float>, _ sb: Int,
               _ z: UnsafeMutablePointer<Float>, _ f: (Float, Float) -> Float) {
    switch (sa, sb) {
    case (1, 1): for i in 0..<n { z[i] = f(x[i], y[i]) }
    case (1, 0): let v = y[0]; for i in 0..<n { z[i] = f(x[i], v) }
    case (0, 1): let u = x[0]; for i in 0..<n { z[i] = f(u, y[i]) }
    default: for i in 0..<n { z[i] = f(x[i * sa], y[i * sb]) }
    }
}
