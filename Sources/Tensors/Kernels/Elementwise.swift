// Elementwise kernels: broadcasting binary ops, unary math and activations (parameter-free ones
// in `UnaryOp`, those with scalar parameters — leaky ReLU, ELU, CELU, SELU, hard sigmoid — in
// `ParametricUnaryOp`), and their derivatives. Work is split across the CPU's threads by runs of the coalesced iteration plan;
// each element is computed independently, so results do not depend on the thread count.
// Forward kernels write into a given `into:` output, which may be exactly one input (in place):
// every loop reads an element before writing it, and stays vectorized in place.
// Naive twins: `Naive/Elementwise+Naive.swift`.

import CKernels
import Foundation

/// Binary elementwise ops (numpy broadcasting).
public enum BinaryOp: String, Sendable, CaseIterable {
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
public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, abs, exp, log, sqrt, sin, cos, erf, tanh, sigmoid, relu, silu, gelu, geluTanh, square, reciprocal
    /// log(1 + eˣ), computed without overflow (ONNX Softplus, nn.Softplus with beta 1 below its threshold)
    case softplus
    /// x · tanh(softplus(x)) (nn.Mish, ONNX Mish)
    case mish
    /// x · max(0, min(1, x/6 + 1/2)) (nn.Hardswish, ONNX HardSwish)
    case hardSwish

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
        case .softplus: return softplus(x)
        case .mish: return x * Foundation.tanh(softplus(x))
        case .hardSwish: return x * Swift.min(Swift.max(x * (1 / 6 as Float) + 0.5, 0), 1)
        }
    }

    /// log(1 + eˣ) as ONNX Runtime computes it: x + log1p(e⁻ˣ) for x > 0, else log1p(eˣ).
    @inline(__always) func softplus(_ x: Float) -> Float {
        x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
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
        case .softplus: return 1 / (1 + Foundation.exp(-x))
        case .mish:
            let t = Foundation.tanh(softplus(x))
            return t + x * (1 - t * t) / (1 + Foundation.exp(-x))
        case .hardSwish: return x < -3 ? 0 : (x <= 3 ? x / 3 + 0.5 : 1)
        }
    }
}

/// Elementwise activations with scalar parameters (the ONNX ops of the same names).
public enum ParametricUnaryOp: Sendable, Equatable {
    /// x ≥ 0 ? x : alpha · x (nn.LeakyReLU, ONNX LeakyRelu)
    case leakyRelu(alpha: Float)
    /// x ≥ 0 ? x : alpha · (eˣ − 1) (nn.ELU, ONNX Elu)
    case elu(alpha: Float)
    /// max(0, x) + min(0, alpha · (e^(x/alpha) − 1)) (nn.CELU, ONNX Celu)
    case celu(alpha: Float)
    /// gamma · (x > 0 ? x : alpha · (eˣ − 1)) (nn.SELU with ONNX Selu's default constants)
    case selu(alpha: Float, gamma: Float)
    /// max(0, min(1, alpha · x + beta)) (ONNX HardSigmoid; nn.Hardsigmoid is alpha 1/6, beta 1/2)
    case hardSigmoid(alpha: Float, beta: Float)

    /// The function's name, without its parameters (`leakyRelu`, …).
    public var name: String {
        switch self {
        case .leakyRelu: return "leakyRelu"
        case .elu: return "elu"
        case .celu: return "celu"
        case .selu: return "selu"
        case .hardSigmoid: return "hardSigmoid"
        }
    }

    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .leakyRelu(let alpha): return x < 0 ? alpha * x : x
        case .elu(let alpha): return x < 0 ? alpha * Foundation.expm1(x) : x
        case .celu(let alpha): return Swift.max(x, 0) + Swift.min(0, alpha * Foundation.expm1(x / alpha))
        case let .selu(alpha, gamma): return x > 0 ? gamma * x : gamma * (alpha * Foundation.expm1(x))
        case let .hardSigmoid(alpha, beta): return Swift.max(0, Swift.min(1, alpha * x + beta))
        }
    }

    /// d(op(x))/dx given the input `x` and output `y`.
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .leakyRelu(let alpha): return x > 0 ? 1 : alpha
        case .elu(let alpha): return x > 0 ? 1 : alpha * Foundation.exp(x)
        case .celu(let alpha): return x > 0 ? 1 : Foundation.exp(x / alpha)
        case let .selu(alpha, gamma): return x > 0 ? gamma : gamma * alpha * Foundation.exp(x)
        case let .hardSigmoid(alpha, beta):
            let u = alpha * x + beta
            return u > 0 && u < 1 ? alpha : 0
        }
    }
}

extension CPU {
    /// `op(a, b)` with numpy broadcasting.
    /// - Parameters:
    ///   - a, b: shapes that broadcast together
    ///   - out: the result's shape, or nil to allocate; may be exactly `a` or `b` (same storage,
    ///     offset and shape: in place), otherwise must not overlap either
    /// - Returns: the broadcast shape of `a` and `b` (`out` when given)
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor? = nil) throws -> Tensor {
        let shape = try broadcastShapes(a.shape, b.shape, op: op.rawValue)
        let out = try Tensor.output(out, shape: shape, op: op.rawValue)
        broadcastRuns(a, b, out) { n, x, sa, y, sb, z in
            switch op {
            case .add: binaryRun(n, x, sa, y, sb, z) { $0 + $1 }
            case .sub: binaryRun(n, x, sa, y, sb, z) { $0 - $1 }
            case .mul: binaryRun(n, x, sa, y, sb, z) { $0 * $1 }
            case .div: binaryRun(n, x, sa, y, sb, z) { $0 / $1 }
            default: binaryRun(n, x, sa, y, sb, z) { op.apply($0, $1) }
            }
        }
        return out
    }

    /// ``binary(_:_:_:into:)`` with `.add`.
    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor? = nil) throws -> Tensor { try binary(.add, a, b, into: out) }
    /// ``binary(_:_:_:into:)`` with `.sub`.
    public func sub(_ a: Tensor, _ b: Tensor, into out: Tensor? = nil) throws -> Tensor { try binary(.sub, a, b, into: out) }
    /// ``binary(_:_:_:into:)`` with `.mul`.
    public func mul(_ a: Tensor, _ b: Tensor, into out: Tensor? = nil) throws -> Tensor { try binary(.mul, a, b, into: out) }
    /// ``binary(_:_:_:into:)`` with `.div`.
    public func div(_ a: Tensor, _ b: Tensor, into out: Tensor? = nil) throws -> Tensor { try binary(.div, a, b, into: out) }

    /// Calls `run(n, x, sa, y, sb, z)` for every contiguous run of `out` (which `a` and `b`
    /// broadcast to), long runs in pieces: z = n outputs, x and y inputs with strides sa, sb (0 = broadcast).
    /// Each run is read and written by one thread, element by element.
    private func broadcastRuns(_ a: Tensor, _ b: Tensor, _ out: Tensor,
                               _ run: (Int, UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>, Int,
                                       UnsafeMutablePointer<Float>) -> Void) {
        let plan = StridedPlan(output: out.shape, a: a.shape, b: b.shape)
        let inner = plan.inner, pa = a.pointer, pb = b.pointer, po = out.pointer
        let sa = plan.strideA[plan.dims.rank - 1], sb = plan.strideB[plan.dims.rank - 1]
        // Long runs (same-shape operands collapse into one) are cut into pieces of 16K elements.
        let pieces = max(1, inner / 16384), piece = (inner + pieces - 1) / pieces
        parallelFor(plan.outer * pieces, grain: max(1, 16384 / max(piece, 1))) { items in
            for item in items {
                let r = item / pieces, start = (item % pieces) * piece, n = min(piece, inner - start)
                let (oa, ob) = plan.runOffsets(r)
                run(n, pa + oa + start * sa, sa, pb + ob + start * sb, sb, po + r * inner + start)
            }
        }
        withExtendedLifetime((a, b, out)) {}
    }

    /// `op(x)` elementwise.
    /// - Parameters:
    ///   - x: any shape
    ///   - out: `x.shape`, or nil to allocate; may be exactly `x` (in place), otherwise must not
    ///     overlap it. A wrong shape traps.
    public func unary(_ op: UnaryOp, _ x: Tensor, into out: Tensor? = nil) -> Tensor {
        let out = Tensor.checkedOutput(out, shape: x.shape, op: "unary(\(op))")
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in unaryRun(op, r, px, po) }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// `grad * op'(x)` elementwise, given the forward input `x` and output `y`.
    public func unaryBackward(_ op: UnaryOp, x: Tensor, y: Tensor, grad: Tensor) -> Tensor {
        precondition(x.shape == grad.shape && y.shape == grad.shape, "unaryBackward(\(op)): \(x.shape) \(y.shape) \(grad.shape)")
        let out = Tensor(uninitialized: x.shape)
        let px = x.pointer, py = y.pointer, pg = grad.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            if op == .silu {  // the U-Net's activation: vectorized, with the forward's exp
                dn_silu_backward(px + r.lowerBound, pg + r.lowerBound, po + r.lowerBound, r.count)
                return
            }
            for i in r { po[i] = pg[i] * op.derivative(px[i], py[i]) }
        }
        withExtendedLifetime((x, y, grad)) {}
        return out
    }

    /// `op(x)` elementwise for an activation with parameters.
    /// - Parameters:
    ///   - x: any shape
    ///   - out: `x.shape`, or nil to allocate; may be exactly `x` (in place), otherwise must not
    ///     overlap it. A wrong shape traps.
    public func unary(_ op: ParametricUnaryOp, _ x: Tensor, into out: Tensor? = nil) -> Tensor {
        let out = Tensor.checkedOutput(out, shape: x.shape, op: "unary(\(op.name))")
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            switch op {  // one loop per case, so each specializes
            case .leakyRelu(let alpha): mapUnary(r, px, po) { $0 < 0 ? alpha * $0 : $0 }
            case .hardSigmoid(let alpha, let beta): mapUnary(r, px, po) { Swift.max(0, Swift.min(1, alpha * $0 + beta)) }
            case .elu, .celu, .selu: mapUnary(r, px, po) { op.apply($0) }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// `grad * op'(x)` elementwise, given the forward input `x` and output `y`.
    public func unaryBackward(_ op: ParametricUnaryOp, x: Tensor, y: Tensor, grad: Tensor) -> Tensor {
        precondition(x.shape == grad.shape && y.shape == grad.shape, "unaryBackward(\(op.name)): \(x.shape) \(y.shape) \(grad.shape)")
        let out = Tensor(uninitialized: x.shape)
        let px = x.pointer, py = y.pointer, pg = grad.pointer, po = out.pointer
        parallelFor(x.count, grain: 8192) { r in
            for i in r { po[i] = pg[i] * op.derivative(px[i], py[i]) }
        }
        withExtendedLifetime((x, y, grad)) {}
        return out
    }

    /// `x * scale + shift` elementwise.
    /// - Parameters:
    ///   - x: any shape
    ///   - out: `x.shape`, or nil to allocate; may be exactly `x` (in place), otherwise must not
    ///     overlap it. A wrong shape traps.
    public func affine(_ x: Tensor, scale: Float, shift: Float = 0, into out: Tensor? = nil) -> Tensor {
        scalarMap(.affine(scale: scale, shift: shift), x, into: out)
    }

    /// `x ** exponent` elementwise.
    /// - Parameters:
    ///   - x: any shape
    ///   - out: `x.shape`, or nil to allocate; may be exactly `x` (in place), otherwise must not
    ///     overlap it. A wrong shape traps.
    public func pow(_ x: Tensor, _ exponent: Float, into out: Tensor? = nil) -> Tensor {
        scalarMap(.pow(exponent), x, into: out)
    }

    /// `min(max(x, low), high)` elementwise.
    /// - Parameters:
    ///   - x: any shape
    ///   - out: `x.shape`, or nil to allocate; may be exactly `x` (in place), otherwise must not
    ///     overlap it. A wrong shape traps.
    public func clamp(_ x: Tensor, min low: Float, max high: Float, into out: Tensor? = nil) -> Tensor {
        scalarMap(.clamp(low: low, high: high), x, into: out)
    }

    /// The maps of one element by scalar parameters behind affine, pow and clamp.
    private enum ScalarMap {
        case affine(scale: Float, shift: Float), pow(Float), clamp(low: Float, high: Float)
    }

    /// `m` of every element of `x` into `out` (checked) or a new tensor; each element is read
    /// before it is written, so `out` may be exactly `x`. The switch sits inside the parallel body
    /// so every loop gets its own closure literal (a captured closure would be an indirect call
    /// per element, unvectorized).
    private func scalarMap(_ m: ScalarMap, _ x: Tensor, into out: Tensor?) -> Tensor {
        let name: String, grain: Int
        switch m {
        case .affine: (name, grain) = ("affine", 16384)
        case .pow: (name, grain) = ("pow", 8192)
        case .clamp: (name, grain) = ("clamp", 16384)
        }
        let out = Tensor.checkedOutput(out, shape: x.shape, op: name)
        let px = x.pointer, po = out.pointer
        parallelFor(x.count, grain: grain) { r in
            switch m {
            case let .affine(scale, shift): mapUnary(r, px, po) { $0 * scale + shift }
            case .pow(2): mapUnary(r, px, po) { $0 * $0 }
            case let .pow(exponent): mapUnary(r, px, po) { Foundation.pow($0, exponent) }
            case let .clamp(low, high): mapUnary(r, px, po) { Swift.min(Swift.max($0, low), high) }
            }
        }
        withExtendedLifetime((x, out)) {}
        return out
    }

    /// `x` repeated along broadcast axes to `shape` (numpy `broadcast_to`, materialized).
    /// - Parameters:
    ///   - x: a shape that broadcasts to `shape`
    ///   - out: `shape`, or nil to allocate; must not overlap `x`
    public func broadcast(_ x: Tensor, to shape: Shape, into out: Tensor? = nil) throws -> Tensor {
        let target = try broadcastShapes(x.shape, shape, op: "broadcast")
        guard target == shape else {
            throw TensorError.shapeMismatch(op: "broadcast", x.shape, shape, detail: "cannot broadcast to the target")
        }
        let out = try Tensor.output(out, shape: shape, op: "broadcast")
        broadcastRuns(x, x, out) { n, x, sx, _, _, z in binaryRun(n, x, sx, x, sx, z) { a, _ in a } }
        return out
    }
}

/// `po[i] = op(px[i])` over `range`: one loop per op so each specializes (and vectorizes where
/// the math allows); SiLU, sigmoid and exp run the C kernels. `po` may equal `px` (in place):
/// each element is read before it is written. Shared by ``CPU/unary(_:_:into:)`` and the conv2d
/// epilogue, so a fused activation gives the bits of the separate op.
@inline(__always)
func unaryRun(_ op: UnaryOp, _ r: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>) {
    switch op {
    case .neg: mapUnary(r, px, po) { -$0 }
    case .relu: mapUnary(r, px, po) { Swift.max($0, 0) }
    case .exp, .sigmoid, .silu: cUnaryRun(op, px + r.lowerBound, po + r.lowerBound, r.count)
    case .square: mapUnary(r, px, po) { $0 * $0 }
    case .abs: mapUnary(r, px, po) { Swift.abs($0) }
    default: for i in r { po[i] = op.apply(px[i]) }
    }
}

/// The C loop of `op` (exp, sigmoid or SiLU) over `n` floats. The C loops vectorize only behind
/// a runtime overlap check that exact aliasing fails, and then run scalar (dn_silu on 64K floats,
/// one thread: 458 µs in place vs 59 µs out of place), so in place the input is copied through a
/// stack block first (65 µs).
@inline(__always)
private func cUnaryRun(_ op: UnaryOp, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch op {
        case .exp: dn_exp(x, y, n)
        case .sigmoid: dn_sigmoid(x, y, n)
        default: dn_silu(x, y, n)
        }
    }
    if x != y { run(x, y, n); return }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 512) { block in
        let staged = block.baseAddress!
        var i = 0
        while i < n {
            let len = min(512, n - i)
            staged.update(from: x + i, count: len)
            run(staged, y + i, len)
            i += len
        }
    }
}

/// `po[i] = f(px[i])` over `range`; inlined so that each call site specializes `f`. In place
/// (`po == px`) it loops over one pointer: two equal pointers fail the vectorizer's overlap
/// check and would run scalar.
@inline(__always)
func mapUnary(_ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>,
              _ f: (Float) -> Float) {
    if px == po { for i in range { po[i] = f(po[i]) } } else { for i in range { po[i] = f(px[i]) } }
}

/// One contiguous output run of a broadcasting binary op; input strides are 0 or 1 (or general).
/// An output equal to a contiguous input is looped as one pointer (see ``mapUnary(_:_:_:_:)``).
@inline(__always)
func binaryRun(_ n: Int, _ x: UnsafeMutablePointer<Float>, _ sa: Int, _ y: UnsafeMutablePointer<Float>, _ sb: Int,
               _ z: UnsafeMutablePointer<Float>, _ f: (Float, Float) -> Float) {
    switch (sa, sb) {
    case (1, 1) where z == x && z == y: for i in 0..<n { z[i] = f(z[i], z[i]) }
    case (1, 1) where z == x: for i in 0..<n { z[i] = f(z[i], y[i]) }
    case (1, 1) where z == y: for i in 0..<n { z[i] = f(x[i], z[i]) }
    case (1, 1): for i in 0..<n { z[i] = f(x[i], y[i]) }
    case (1, 0) where z == x: let v = y[0]; for i in 0..<n { z[i] = f(z[i], v) }
    case (1, 0): let v = y[0]; for i in 0..<n { z[i] = f(x[i], v) }
    case (0, 1) where z == y: let u = x[0]; for i in 0..<n { z[i] = f(u, z[i]) }
    case (0, 1): let u = x[0]; for i in 0..<n { z[i] = f(u, y[i]) }
    default: for i in 0..<n { z[i] = f(x[i * sa], y[i * sb]) }
    }
}
